-- Entry header parsing, shared: Go prepends this file to every script that
-- reads entries in place (delete, invalidate_tag, soft_purge_tag). An entry
-- starts with the magic byte 0xCA, a version byte whose bit 7 marks a soft
-- purge, the length of the route name (one byte) and the route name (see
-- entry.go); a fill lease placeholder starts with 0xFE instead.

-- entry_header reads the header of the value under key k. It returns nil
-- when k does not exist, false when k holds something other than an entry
-- (a lease placeholder), else {route = <route name>, version = <version
-- byte>}.
local function entry_header(k)
  local h = redis.call('GETRANGE', k, 0, 258)
  if h == '' then
    return nil
  end
  if #h < 3 or string.byte(h, 1) ~= 0xCA then
    return false
  end
  return {route = string.sub(h, 4, 3 + string.byte(h, 3)), version = string.byte(h, 2)}
end

-- is_purged reports whether the entry whose header is h is soft-purged.
local function is_purged(h)
  return h.version >= 0x80
end

-- mark_purged sets the soft-purge bit of entry k, whose header is h, in
-- place (SETRANGE keeps the TTL).
local function mark_purged(k, h)
  redis.call('SETRANGE', k, 1, string.char(h.version + 0x80))
end

