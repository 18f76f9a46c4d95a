-- optimist: the expectation check shared by put.lua and delete.lua (prepended to both).
--
-- ARGV[1] is the mode: 'any', 'absent', 'exists', or 'in' (the current version must be one of
-- ARGV[first], ARGV[first + 1], ...; an empty list never matches). `cur` is the key's current
-- version as stored (a decimal string), or false when the key is absent. Versions are compared
-- as canonical decimal strings, so no precision is lost.
local function admits(cur, first)
  local mode = ARGV[1]
  if mode == 'any' then
    return true
  elseif mode == 'absent' then
    return cur == false
  elseif cur == false then
    return false
  elseif mode == 'exists' then
    return true
  elseif mode == 'in' then
    for i = first, #ARGV do
      if ARGV[i] == cur then
        return true
      end
    end
    return false
  end
  error('optimist: unknown expectation mode')
end

-- The reply for a refused expectation: {0, current} or {0} when absent (never a Lua false,
-- which RESP2 and RESP3 clients would read differently).
local function refused(cur)
  if cur then
    return {0, cur}
  end
  return {0}
end
