-- +goose Up
-- policy_refusal_counts: the refusals of the national-mail policy counted
-- per UTC hour (hours since 1970-01-01 UTC), who (the login, or smtp:IP
-- when nobody was logged in), domain ('' when none) and reason, so that the
-- violations summary reads a few rows a key instead of every policy.refused
-- audit event. internal/policy adds to it in the transaction that writes
-- each policy.refused event, so the counts and the events never disagree.
-- An event that counts refusals per domain ("domains") is split into a row
-- per domain and a row for the rest under domain ''.
CREATE TABLE policy_refusal_counts (
    hour   BIGINT NOT NULL,
    who    TEXT NOT NULL,
    domain TEXT NOT NULL,
    reason TEXT NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (hour, who, domain, reason)
);

-- The policy.refused events written before this table existed, counted
-- the way internal/policy counts them (Summarize): an event stands for its
-- "count" (1 when absent), by domain as its "domains" says, else under its
-- "domain"; who is its "user", else its actor. (CASE, not AND, guards
-- each cast: PostgreSQL may evaluate AND's operands in any order.)
INSERT INTO policy_refusal_counts (hour, who, domain, reason, count)
WITH refused AS (
    SELECT floor(extract(epoch FROM created_at) / 3600)::bigint AS hour,
           CASE WHEN jsonb_typeof(j -> 'user') = 'string' AND j ->> 'user' <> '' THEN j ->> 'user' ELSE actor END AS who,
           CASE WHEN jsonb_typeof(j -> 'reason') = 'string' THEN j ->> 'reason' ELSE '' END AS reason,
           CASE WHEN jsonb_typeof(j -> 'domain') = 'string' THEN j ->> 'domain' ELSE '' END AS domain,
           CASE WHEN jsonb_typeof(j -> 'count') <> 'number' THEN 1
                WHEN (j -> 'count')::text::numeric >= 1 THEN floor((j -> 'count')::text::numeric)::bigint ELSE 1 END AS n,
           CASE WHEN jsonb_typeof(j -> 'domains') = 'object' AND j -> 'domains' <> '{}'::jsonb THEN j -> 'domains' END AS domains
    FROM (SELECT created_at, actor, details::jsonb AS j FROM audit_events WHERE action = 'policy.refused') a
), per_domain AS (
    SELECT e.hour, e.who, e.reason, d.key AS domain, floor(d.value::text::numeric)::bigint AS n
    FROM refused e, jsonb_each(e.domains) d
    WHERE CASE WHEN jsonb_typeof(d.value) = 'number' THEN d.value::text::numeric >= 1 ELSE FALSE END
)
SELECT hour, who, domain, reason, SUM(n) FROM (
    SELECT hour, who, domain, reason, n FROM refused WHERE domains IS NULL
    UNION ALL
    SELECT hour, who, domain, reason, n FROM per_domain
    UNION ALL
    SELECT e.hour, e.who, '', e.reason,
           e.n - COALESCE((SELECT SUM(floor(d.value::text::numeric))::bigint FROM jsonb_each(e.domains) d
                           WHERE CASE WHEN jsonb_typeof(d.value) = 'number' THEN d.value::text::numeric >= 1 ELSE FALSE END), 0)
    FROM refused e WHERE e.domains IS NOT NULL
) counted
WHERE n > 0
GROUP BY hour, who, domain, reason;
