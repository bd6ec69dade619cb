-- One rate-limit decision over several rules, atomically.
-- KEYS[i]: sorted set of admission times (microseconds) of rule i; all keys
--          share one hash tag, so they live in one cluster slot.
-- ARGV[1]: member unique to this request.
-- ARGV[2i], ARGV[2i+1]: limit and window (microseconds) of rule i.
-- Returns {allowed, then per rule: remaining, reset_us, retry_us}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local member = ARGV[1]
local n = #KEYS
local counts = {}
local resets = {}
local retries = {}
local allowed = 1

for i = 1, n do
  local key = KEYS[i]
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local reset = 0
  local retry = 0
  if count > 0 then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    reset = tonumber(oldest[2]) + window - now
  end
  if count >= limit then
    allowed = 0
    -- the next admission needs the set down to limit-1 entries
    local nth = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    retry = tonumber(nth[2]) + window - now
  end
  counts[i] = count
  resets[i] = reset
  retries[i] = retry
end

local out = {allowed}
for i = 1, n do
  local key = KEYS[i]
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local count = counts[i]
  if allowed == 1 then
    redis.call('ZADD', key, now, member)
    if count == 0 then
      resets[i] = window
    end
    count = count + 1
  end
  if count > 0 then
    -- every entry is at most now, so all are gone one window from now;
    -- refreshing on refusals too heals a key that lost its TTL
    redis.call('PEXPIRE', key, math.ceil(window / 1000))
  end
  local remaining = limit - count
  if remaining < 0 then
    remaining = 0
  end
  out[#out + 1] = remaining
  out[#out + 1] = resets[i]
  out[#out + 1] = retries[i]
end
return out
