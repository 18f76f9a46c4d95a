-- optimist delete: compare and remove in one step.
--
-- KEYS[1]: the data hash
-- ARGV[1]: mode, ARGV[2..]: versions for mode 'in'
-- Reply: {1, removed_version}, {1} (absent and admitted), or {0, current_version} / {0}.
local cur = redis.call('HGET', KEYS[1], 'v')
if not admits(cur, 2) then
  return refused(cur)
end
if cur then
  redis.call('DEL', KEYS[1])
  return {1, cur}
end
return {1}
