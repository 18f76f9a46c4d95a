-- optimist: every write of the Redis backend (put, delete, multi-key commit) is this script:
-- check every expectation, then write everything, or nothing, in one atomic step.
--
-- KEYS[1..n]  the data hashes {v = version, d = data bytes, m = modified ms}, one per operation
-- KEYS[n + 1] the version counter (never reset, so a version is never reused)
-- KEYS[n + 2] the listing index: a sorted set, score 0, members the data hashes' names
-- KEYS[n + 3] the write marker, only when ARGV[2] (the write id) is not empty
-- In Redis Cluster every key above hashes to one slot (the caller checks it).
--
-- ARGV[1] n, the number of operations
-- ARGV[2] the write id ('' for none). When given, a marker holding the success reply is kept
--         for 10 minutes: a request the client resends after a lost reply finds it and
--         answers the same reply instead of running again (and being refused by its own write).
-- ARGV[3] '1': draw no version below the server clock in ms * 1000 (cluster mode: a replica
--         promoted after a failover may have a counter behind versions already handed out)
-- Then per operation: kind ('p' put, 'd' delete, 'c' check), mode ('any', 'absent',
-- 'exists', 'in'), the count k of versions, k versions (for 'in': the current version must
-- be one of them; versions are compared as canonical decimal strings), and for a put its data.
--
-- Reply: {1, modified_ms, r_1, ..., r_n} where r_i is the new version of a put, the removed
-- version of a delete or the current version of a check (0: absent); or, when an expectation
-- failed and nothing was written, {0, i, current_i, j, current_j, ...} for every failed
-- operation (current 0: absent). Never a Lua false, which RESP2 and RESP3 read differently.
local n = tonumber(ARGV[1])
local wid = ARGV[2]
local marker = KEYS[n + 3]
if wid ~= '' then
  local done = redis.call('GET', marker)
  if done then
    local reply = {}
    for token in string.gmatch(done, '%S+') do
      reply[#reply + 1] = token
    end
    return reply
  end
end

local ops = {}
local p = 4
for i = 1, n do
  local k = tonumber(ARGV[p + 2])
  local op = {kind = ARGV[p], mode = ARGV[p + 1], first = p + 3, last = p + 2 + k}
  p = p + 3 + k
  if op.kind == 'p' then
    op.data = ARGV[p]
    p = p + 1
  end
  ops[i] = op
end

local function admits(op, cur)
  local mode = op.mode
  if mode == 'any' then
    return true
  elseif mode == 'absent' then
    return cur == false
  elseif cur == false then
    return false
  elseif mode == 'exists' then
    return true
  elseif mode == 'in' then
    for a = op.first, op.last do
      if ARGV[a] == cur then
        return true
      end
    end
    return false
  end
  error('optimist: unknown expectation mode')
end

local cur = {}
local failed = {0}
local puts = 0
for i = 1, n do
  cur[i] = redis.call('HGET', KEYS[i], 'v')
  if not admits(ops[i], cur[i]) then
    failed[#failed + 1] = i
    failed[#failed + 1] = cur[i] or 0
  end
  if ops[i].kind == 'p' then
    puts = puts + 1
  end
end
if #failed > 1 then
  return failed
end

-- Integers as decimal strings: Lua would print a double such as 1.7e15 in %.14g.
local function int(x)
  return string.format('%d', x)
end

local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counter = KEYS[n + 1]
local index = KEYS[n + 2]
local v = 0
if puts > 0 then
  -- The versions of this commit: v + 1 .. v + puts.
  v = redis.call('INCRBY', counter, puts) - puts
  if ARGV[3] == '1' and v < ms * 1000 then
    v = ms * 1000
    redis.call('SET', counter, int(v + puts))
  end
  -- Lua numbers are doubles: beyond 2^53 - 1 versions would lose precision.
  if v + puts > 9007199254740991 then
    return redis.error_reply('optimist: version counter exhausted (2^53 - 1)')
  end
end

local reply = {1, int(ms)}
for i = 1, n do
  local op = ops[i]
  if op.kind == 'p' then
    v = v + 1
    redis.call('HSET', KEYS[i], 'v', int(v), 'd', op.data, 'm', int(ms))
    redis.call('ZADD', index, 0, KEYS[i])
    reply[i + 2] = int(v)
  elseif op.kind == 'd' then
    if cur[i] then
      redis.call('DEL', KEYS[i])
      redis.call('ZREM', index, KEYS[i])
    end
    reply[i + 2] = cur[i] or '0'
  else
    reply[i + 2] = cur[i] or '0'
  end
end
if wid ~= '' then
  redis.call('SET', marker, table.concat(reply, ' '), 'PX', 600000)
end
return reply
