-- optimist put: compare and write in one step.
--
-- KEYS[1]: the data hash {v = version, d = data bytes, m = modified ms}
-- KEYS[2]: the store-wide version counter (never reset, so versions are never reused)
-- ARGV[1]: mode, ARGV[2]: data, ARGV[3..]: versions for mode 'in'
-- Reply: {1, new_version, modified_ms} or {0, current_version} / {0} (absent).
local cur = redis.call('HGET', KEYS[1], 'v')
if not admits(cur, 3) then
  return refused(cur)
end
local v = redis.call('INCR', KEYS[2])
-- Lua numbers are doubles: beyond 2^53 - 1 versions would lose precision.
if v > 9007199254740991 then
  return redis.error_reply('optimist: version counter exhausted (2^53 - 1)')
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[2], 'm', ms)
return {1, v, ms}
