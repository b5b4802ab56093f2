// Package pipe runs the feature packages' per-request Redis commands, either
// on the application's client or through go-redis's auto-pipeliner, which
// flushes the commands that many goroutines issue at the same moment in one
// write and reads their replies in one read.
//
// The auto-pipeliner used is the client's own asynchronous one
// (AsyncAutoPipeline, configured by the client's
// Options.AutoPipelineOptions), shared with the rest of the application and
// owned by the client: closing the client stops it, nothing here closes it.
// Each command is submitted and then waited for with the caller's context,
// so a command timeout still ends the wait on time (the command itself may
// still run when its batch is flushed, as a command a plain client had
// already written would).
//
// Replays: go-redis retries a batch whose connection breaks (up to the
// client's MaxRetries), as it retries a single command on a plain client;
// a command Redis executed before the break then runs twice. The scripts
// sent through a Runner are written so that a second run of the same call
// is harmless or recognised (see each package's lua/ directory).
package pipe

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
)

// Runner sends commands for one feature package. The zero value is not
// usable; a nil *Runner is not either. It is safe for concurrent use and
// implements redis.Scripter, so redis.Script.Run accepts it.
type Runner struct {
	c  redis.UniversalClient
	ap *redis.AutoPipeliner // nil: commands go to c
}

// New returns a Runner over c, through c's auto-pipeliner when auto is
// true. c must not be nil. It fails when c has no auto-pipeliner (a
// *redis.Ring, or a closed client).
func New(c redis.UniversalClient, auto bool) (*Runner, error) {
	r := &Runner{c: c}
	if !auto {
		return r, nil
	}
	ap, err := c.AsyncAutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("auto-pipelining on a %T: %w", c, err)
	}
	r.ap = ap
	return r, nil
}

// Pipelined reports whether commands go through the auto-pipeliner.
func (r *Runner) Pipelined() bool { return r.ap != nil }

// Client returns the client the Runner was made with, for the commands
// that must not be pipelined (SCAN, subscriptions, explicit pipelines).
func (r *Runner) Client() redis.UniversalClient { return r.c }

// Process runs cmd and returns its error. When it returns an error of
// ctx (the wait was abandoned), cmd may still be in flight and must not be
// read; otherwise cmd holds its complete result.
func (r *Runner) Process(ctx context.Context, cmd redis.Cmder) error {
	if r.ap == nil {
		return r.c.Process(ctx, cmd)
	}
	return r.ap.Submit(ctx, cmd).WaitContext(ctx)
}

// Do runs a command built from args and returns it. Unlike Process it
// never returns a command still in flight: when the wait is abandoned it
// returns a fresh command carrying the context's error, which is safe to
// read at once.
func (r *Runner) Do(ctx context.Context, args ...any) *redis.Cmd {
	return r.run(ctx, redis.NewCmd(ctx, args...))
}

func (r *Runner) run(ctx context.Context, cmd *redis.Cmd) *redis.Cmd {
	err := r.Process(ctx, cmd)
	if err != nil && r.ap != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		abandoned := redis.NewCmd(ctx, cmd.Args()...)
		abandoned.SetErr(err)
		return abandoned
	}
	return cmd
}

func (r *Runner) eval(ctx context.Context, name, payload string, keys []string, args []any) *redis.Cmd {
	a := make([]any, 3+len(keys), 3+len(keys)+len(args))
	a[0], a[1], a[2] = name, payload, len(keys)
	for i, k := range keys {
		a[3+i] = k
	}
	a = append(a, args...)
	cmd := redis.NewCmd(ctx, a...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3)
	}
	return r.run(ctx, cmd)
}

// EvalArgs runs a script whose command arguments the caller has built
// once: args[0] and args[1] are left for the command name and the script,
// args[2] is the number of keys (an int), the keys and then the arguments
// follow. It sends EVALSHA sha, then EVAL src once if the server answers
// NOSCRIPT, as redis.Script.Run does, without copying the arguments on the
// way. A nil reply (redis.Nil) is returned as a nil value and no error.
func (r *Runner) EvalArgs(ctx context.Context, sha, src any, args []any) (any, error) {
	args[0], args[1] = "evalsha", sha
	cmd := r.scriptCmd(ctx, args)
	err := r.Process(ctx, cmd)
	if err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")) {
		args = slices.Clone(args)
		args[0], args[1] = "eval", src
		cmd = r.scriptCmd(ctx, args)
		err = r.Process(ctx, cmd)
	}
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		return nil, err
	}
	return cmd.Val(), nil
}

// scriptCmd is the command for EVAL/EVALSHA arguments, routed on a
// cluster by its first key.
func (r *Runner) scriptCmd(ctx context.Context, args []any) *redis.Cmd {
	cmd := redis.NewCmd(ctx, args...)
	if n, _ := args[2].(int); n > 0 {
		cmd.SetFirstKeyPos(3)
	}
	return cmd
}

// Eval runs EVAL (redis.Scripter).
func (r *Runner) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return r.eval(ctx, "eval", script, keys, args)
}

// EvalSha runs EVALSHA (redis.Scripter).
func (r *Runner) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return r.eval(ctx, "evalsha", sha1, keys, args)
}

// EvalRO runs EVAL_RO (redis.Scripter).
func (r *Runner) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return r.eval(ctx, "eval_ro", script, keys, args)
}

// EvalShaRO runs EVALSHA_RO (redis.Scripter).
func (r *Runner) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return r.eval(ctx, "evalsha_ro", sha1, keys, args)
}

// ScriptExists runs SCRIPT EXISTS on the client (redis.Scripter); it is
// not pipelined, as on a cluster it asks every master.
func (r *Runner) ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd {
	return r.c.ScriptExists(ctx, hashes...)
}

// ScriptLoad runs SCRIPT LOAD on the client (redis.Scripter); it is not
// pipelined, as on a cluster it loads the script on every master.
func (r *Runner) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	return r.c.ScriptLoad(ctx, script)
}

var _ redis.Scripter = (*Runner)(nil)
