package lockhttp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aura-platform/redishttp/internal/idempotency"
)

// claim claims key on a quorum of nodes (see backend.claim). A Redlock
// split between concurrent claims of one key is retried after a random
// pause, and answered as running after splitRetries.
func (b *redisBackend) claim(ctx context.Context, key string, fp idempotency.Fingerprint, run []byte, ttl time.Duration) (claimResult, error) {
	for splits := 0; ; splits++ {
		res, err := b.claimOnce(ctx, key, fp, run, ttl)
		if !errors.Is(err, errSplit) {
			return res, err
		}
		if splits >= splitRetries {
			return res, nil // res.state is running: answer 409
		}
		t := time.NewTimer(splitDelay(splits))
		select {
		case <-ctx.Done():
			t.Stop()
			return res, nil
		case <-t.C:
		}
	}
}

func (b *redisBackend) claimOnce(ctx context.Context, key string, fp idempotency.Fingerprint, run []byte, ttl time.Duration) (claimResult, error) {
	type nodeClaim struct {
		ok  bool
		rec []byte
		err error
	}
	cctx, cancel := context.WithTimeout(ctx, b.cmdTO)
	defer cancel()
	res := make([]nodeClaim, len(b.clients))
	each(len(b.clients), func(i int) {
		v, err := claimScript.Run(cctx, b.clients[i], []string{key}, run, ttl.Milliseconds()).Slice()
		switch {
		case err != nil:
			res[i].err = err
		case len(v) >= 2:
			s, _ := v[1].(string)
			res[i].rec = []byte(s)
		case len(v) == 1:
			res[i].ok = true
		default:
			res[i].err = idempotency.ErrCorrupt
		}
	})
	var (
		nClaimed, nErr, top int
		out                 claimResult
		owners              = make(map[string]int, len(res))
		errs                []error
	)
	out.state = claimed
	for _, r := range res {
		switch {
		case r.err != nil:
			nErr++
			errs = append(errs, r.err)
		case r.ok:
			nClaimed++
		default:
			rec, err := idempotency.Decode(r.rec)
			if err != nil {
				nErr++
				errs = append(errs, err)
				continue
			}
			if rec.Completed && out.state != completed {
				out = claimResult{state: completed, rec: rec, mismatch: rec.FP != fp}
			}
			if !rec.Completed {
				if rec.FP != fp {
					out.mismatch = true
				}
				owners[string(r.rec)]++
				top = max(top, owners[string(r.rec)])
			}
		}
	}
	if out.state == completed {
		if nClaimed > 0 {
			_ = b.unclaim(ctx, key, run)
		}
		return out, nil
	}
	if nClaimed >= b.quorum {
		return claimResult{state: claimed}, nil
	}
	if nClaimed > 0 {
		_ = b.unclaim(ctx, key, run)
	}
	if nErr > len(b.clients)-b.quorum || top == 0 {
		return claimResult{}, fmt.Errorf("%w: %w", errQuorum, errors.Join(errs...))
	}
	out.state = running
	if top < b.quorum {
		return out, errSplit
	}
	return out, nil
}

func (b *redisBackend) complete(ctx context.Context, key string, rec []byte, retention time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, b.cmdTO)
	defer cancel()
	errs := make([]error, len(b.clients))
	each(len(b.clients), func(i int) {
		errs[i] = completeScript.Run(cctx, b.clients[i], []string{key}, rec, retention.Milliseconds()).Err()
	})
	return b.quorumErr(errs)
}

func (b *redisBackend) unclaim(ctx context.Context, key string, run []byte) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cmdTO)
	defer cancel()
	errs := make([]error, len(b.clients))
	each(len(b.clients), func(i int) {
		errs[i] = unclaimScript.Run(cctx, b.clients[i], []string{key}, run).Err()
	})
	return errors.Join(errs...)
}

// extendClaim extends the claim on a quorum. When more nodes than a quorum
// can spare answered that the claim is not ours, it is lost for sure
// (errNotOurs); any other failure leaves its state unknown.
func (b *redisBackend) extendClaim(ctx context.Context, key string, run []byte, ttl time.Duration) error {
	errs := make([]error, len(b.clients))
	notOurs := 0
	each(len(b.clients), func(i int) {
		n, err := extendClaimScript.Run(ctx, b.clients[i], []string{key}, run, ttl.Milliseconds()).Int64()
		if err == nil && n != 1 {
			err = errNotOurs
		}
		errs[i] = err
	})
	for _, e := range errs {
		if errors.Is(e, errNotOurs) {
			notOurs++
		}
	}
	err := b.quorumErr(errs)
	if err != nil && notOurs > len(b.clients)-b.quorum {
		return fmt.Errorf("%w: %w: idempotency claim: %w", ErrLockLost, errNotOurs, err)
	}
	return err
}
