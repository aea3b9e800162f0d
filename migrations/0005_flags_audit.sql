-- Anti-forgery auditing: where electronic and proxy ballots came from, cast attempts refused after
-- close, anomaly flags for the street office's queue, and the call-back sampling audit.
-- Everything but a flag's decision is append-only. See docs/sampling.md and src/flags/detect.ts.

-- Where an electronic or proxy ballot version was cast from: the client address and a keyed hash
-- of the user agent (never the user agent itself). Written in the cast's own transaction.
create table cast_origins (
  id bigint generated always as identity primary key,
  compound_id uuid not null,
  meeting_id uuid not null,
  head_key text not null,
  version integer not null check (version >= 1),
  channel text not null check (channel in ('electronic', 'proxy')),
  ip text not null check (length(ip) between 1 and 64),
  -- HMAC-SHA256(server secret, user agent), 32 hex characters; null when the client sent none
  user_agent_hash text check (user_agent_hash is null or user_agent_hash ~ '^[0-9a-f]{32}$'),
  cast_by_user uuid references users(id),
  at timestamptz not null,
  foreign key (meeting_id, head_key) references frozen_heads (meeting_id, head_key),
  unique (meeting_id, head_key, version)
);
create index cast_origins_ip on cast_origins (meeting_id, ip);
create index cast_origins_at on cast_origins (meeting_id, at);

-- A cast refused because voting had closed (MEETING_NOT_OPEN after the close time), written in its
-- own transaction after the refused one rolled back, so the attempt is on record.
create table late_cast_attempts (
  id bigint generated always as identity primary key,
  compound_id uuid not null,
  meeting_id uuid not null,
  channel text not null check (channel in ('electronic', 'paper', 'proxy')),
  -- the head the ballot would have been counted under, when it could be told
  head_key text,
  attempted_by uuid not null references users(id),
  ip text check (ip is null or length(ip) <= 64),
  attempted_at timestamptz not null,
  foreign key (compound_id, meeting_id) references meetings (compound_id, id)
);
create index late_cast_attempts_meeting on late_cast_attempts (meeting_id, id);

-- Anomaly flags. One row per (meeting, kind, subject): the detector inserts with ON CONFLICT, so a
-- flag is never raised twice whichever process gets there first. `subject` names what the flag is
-- about without personal data: head:<head key>, ip:<keyed hash>, agent:<owner id>,
-- collector:<collector as entered>, user:<account id>, burst:<start instant>. `heads` lists the
-- heads concerned (the ballots the street office may invalidate). An open flag blocks the final result.
create table flags (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null,
  meeting_id uuid not null,
  kind text not null check (kind in ('shared_origin', 'proxy_over_cap', 'burst', 'paper_and_online', 'after_close', 'uniform_collector')),
  subject text not null check (length(subject) between 1 and 200),
  detail jsonb not null default '{}'::jsonb check (jsonb_typeof(detail) = 'object'),
  heads text[] not null default '{}',
  status text not null default 'open' check (status in ('open', 'dismissed', 'upheld')),
  decision_reason text check (decision_reason is null or length(decision_reason) between 2 and 1000),
  invalidated_heads text[] not null default '{}',
  decided_by uuid references users(id),
  decided_at timestamptz,
  raised_at timestamptz not null,
  updated_at timestamptz not null,
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  unique (meeting_id, kind, subject),
  check ((status = 'open') = (decided_at is null)),
  check (status = 'open' or (decision_reason is not null and decided_by is not null))
);
create index flags_open_compound on flags (compound_id) where status = 'open';
create index flags_open_meeting on flags (meeting_id) where status = 'open';

-- A decided flag is final; no flag is ever deleted.
create function flags_decided_final() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' or old.status <> 'open' then
    raise exception 'flags: a decided flag cannot change' using errcode = '42501';
  end if;
  return new;
end $$;
create trigger flags_decided_final before update or delete on flags for each row execute function flags_decided_final();

-- The call-back sampling audit of a meeting (one per meeting), drawn after close from a public seed.
-- The frame (every voted head, by its representative unit, sorted) is fixed when the audit starts,
-- so anyone with the seed and the frame can redraw the sample (docs/sampling.md).
create table audits (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null,
  meeting_id uuid not null unique,
  seed text not null check (length(seed) between 1 and 200),
  prng text not null check (prng = 'sha256-ctr-v1'),
  alpha double precision not null check (alpha > 0 and alpha < 1),
  oversample integer not null check (oversample between 1 and 10),
  -- [{ label, unitId, headKey, channel, risky }] in draw order (UTF-8 byte order of label)
  frame jsonb not null check (jsonb_typeof(frame) = 'array'),
  frame_sha256 text not null check (frame_sha256 ~ '^[0-9a-f]{64}$'),
  created_by uuid not null references users(id),
  created_at timestamptz not null,
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  unique (compound_id, id)
);

-- Each round of the audit: the first at start, one more after every denial (the sample widens).
create table audit_rounds (
  audit_id uuid not null references audits(id),
  round integer not null check (round >= 1),
  -- smallest flip share and the per-item computation behind it (null: no outcome can be flipped)
  flip_share double precision,
  flip jsonb not null,
  base_target integer not null check (base_target >= 0),
  risky_target integer not null check (risky_target >= 0),
  reason text not null,
  created_by uuid not null references users(id),
  created_at timestamptz not null,
  primary key (audit_id, round)
);

-- The units drawn, in draw order. kind: 'base' (uniform over the frame) or 'risky' (oversampling of
-- paper, proxy and flagged heads).
create table audit_draws (
  audit_id uuid not null references audits(id),
  seq integer not null check (seq >= 1),
  round integer not null,
  kind text not null check (kind in ('base', 'risky')),
  frame_index integer not null check (frame_index >= 0),
  unit_id uuid not null,
  head_key text not null,
  label text not null,
  drawn_at timestamptz not null,
  primary key (audit_id, seq),
  unique (audit_id, head_key),
  foreign key (audit_id, round) references audit_rounds (audit_id, round)
);

-- The street office's call-backs: confirmed, denied (the ballot is invalidated), unreachable.
create table audit_callbacks (
  id bigint generated always as identity primary key,
  audit_id uuid not null references audits(id),
  compound_id uuid not null,
  meeting_id uuid not null,
  head_key text not null,
  unit_id uuid not null,
  outcome text not null check (outcome in ('confirmed', 'denied', 'unreachable')),
  note text not null default '' check (length(note) <= 1000),
  recorded_by uuid not null references users(id),
  recorded_at timestamptz not null,
  foreign key (audit_id, head_key) references audit_draws (audit_id, head_key)
);
create index audit_callbacks_audit on audit_callbacks (audit_id, id);

create trigger cast_origins_append_only before update or delete on cast_origins for each row execute function refuse_change();
create trigger late_cast_attempts_append_only before update or delete on late_cast_attempts for each row execute function refuse_change();
create trigger audits_append_only before update or delete on audits for each row execute function refuse_change();
create trigger audit_rounds_append_only before update or delete on audit_rounds for each row execute function refuse_change();
create trigger audit_draws_append_only before update or delete on audit_draws for each row execute function refuse_change();
create trigger audit_callbacks_append_only before update or delete on audit_callbacks for each row execute function refuse_change();
