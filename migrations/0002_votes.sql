-- Assembly meetings (业主大会会议), agenda, candidates, frozen roll, proxies, ballots, disputes, results.

create table meetings (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null references compounds(id),
  title text not null check (length(title) between 2 and 200),
  convener text not null check (convener in ('committee', 'preparatory', 'reelection', 'street')),
  forms text[] not null check (cardinality(forms) >= 1 and forms <@ array['electronic', 'paper', 'onsite']::text[]),
  state text not null default 'draft' check (state in ('draft', 'noticed', 'open', 'closed', 'preliminary', 'final', 'annulled')),
  -- settings copied from the compound when the notice is posted, so later changes do not alter this vote
  settings jsonb not null default '{}'::jsonb,
  notice_text text not null default '' check (length(notice_text) <= 20000),
  notice_posted_at timestamptz,
  opens_at timestamptz not null,
  closes_at timestamptz not null,
  opened_at timestamptz,
  closed_at timestamptz,
  challenge_ends_at timestamptz,
  finalized_at timestamptz,
  -- the roll frozen when voting opened
  frozen_at timestamptz,
  roll_fingerprint text,
  total_area_centi bigint,
  total_heads integer,
  annul_reason text,
  created_by uuid not null references users(id),
  created_at timestamptz not null default now(),
  check (closes_at > opens_at),
  check (state in ('draft', 'annulled') or notice_posted_at is not null),
  check (state in ('draft', 'noticed', 'annulled') or (frozen_at is not null and roll_fingerprint is not null and total_area_centi is not null and total_heads is not null)),
  check (state <> 'annulled' or length(annul_reason) >= 2),
  unique (compound_id, id)
);
create index meetings_compound on meetings (compound_id, state);
create index meetings_open on meetings (state, closes_at) where state = 'open';

-- Every transition of a meeting: who and when.
create table meeting_events (
  id bigint generated always as identity primary key,
  compound_id uuid not null,
  meeting_id uuid not null,
  at timestamptz not null default now(),
  actor_user_id uuid references users(id),
  kind text not null,
  detail jsonb not null default '{}'::jsonb,
  foreign key (compound_id, meeting_id) references meetings (compound_id, id)
);
create index meeting_events_meeting on meeting_events (meeting_id, id);
create trigger meeting_events_append_only before update or delete on meeting_events
  for each row execute function refuse_change();

-- Agenda items. The topic decides the threshold (民法典 Art. 278).
create table agenda_items (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null,
  meeting_id uuid not null,
  position integer not null check (position >= 1),
  kind text not null check (kind in ('resolution', 'election')),
  topic text not null check (topic in ('rules_of_procedure', 'management_rules', 'elect_committee', 'hire_property_company',
    'use_maintenance_fund', 'raise_maintenance_fund', 'rebuild', 'change_common_use', 'other')),
  title text not null check (length(title) between 2 and 200),
  description text not null default '' check (length(description) <= 20000),
  seats integer check (seats is null or seats between 1 and 11),
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  unique (meeting_id, position),
  unique (compound_id, id),
  unique (meeting_id, id),
  check ((kind = 'election') = (seats is not null)),
  check (kind <> 'election' or topic = 'elect_committee')
);

-- Candidates for an election item; only approved ones are on the ballot.
create table candidates (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null,
  meeting_id uuid not null,
  item_id uuid not null,
  owner_id uuid not null,
  nominated_by text not null check (nominated_by in ('self', 'joint', 'party', 'residents')),
  statement text not null default '' check (length(statement) <= 5000),
  party_member boolean not null default false,
  two_reps boolean not null default false,
  -- declared interest (self, spouse, close relatives) in the property company
  declared_interest boolean not null default false,
  eligibility jsonb not null default '{}'::jsonb,
  status text not null default 'pending' check (status in ('pending', 'approved', 'rejected')),
  review_reason text check (review_reason is null or length(review_reason) between 2 and 1000),
  reviewed_by uuid references users(id),
  reviewed_at timestamptz,
  created_by uuid not null references users(id),
  created_at timestamptz not null default now(),
  foreign key (compound_id, item_id) references agenda_items (compound_id, id),
  foreign key (compound_id, owner_id) references owners (compound_id, id),
  unique (item_id, owner_id),
  unique (compound_id, id),
  check ((status = 'pending') = (reviewed_at is null)),
  check (status = 'pending' or review_reason is not null)
);

-- The roll as frozen when voting opened: one row per head (voter), one per counted unit.
create table frozen_heads (
  compound_id uuid not null,
  meeting_id uuid not null,
  head_key text not null,
  owner_id uuid not null,
  area_centi bigint not null check (area_centi > 0),
  units integer not null check (units > 0),
  primary key (meeting_id, head_key),
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  foreign key (compound_id, owner_id) references owners (compound_id, id)
);
create index frozen_heads_owner on frozen_heads (owner_id);

create table frozen_units (
  compound_id uuid not null,
  meeting_id uuid not null,
  unit_id uuid not null,
  head_key text not null,
  label text not null,
  area_centi bigint not null check (area_centi > 0),
  primary key (meeting_id, unit_id),
  foreign key (meeting_id, head_key) references frozen_heads (meeting_id, head_key),
  foreign key (compound_id, unit_id) references units (compound_id, id)
);

-- 书面委托书: a principal authorises an agent for one meeting (民法典 Art. 165).
create table proxies (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null,
  meeting_id uuid not null,
  principal_head text not null,
  agent_owner_id uuid not null,
  scope text not null check (length(scope) between 2 and 500),
  valid_from date not null,
  valid_to date not null,
  scan bytea not null,
  scan_sha256 text not null,
  scan_type text not null,
  status text not null default 'active' check (status in ('active', 'revoked')),
  revoked_reason text,
  registered_by uuid not null references users(id),
  created_at timestamptz not null default now(),
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  foreign key (compound_id, agent_owner_id) references owners (compound_id, id),
  check (valid_to >= valid_from),
  unique (compound_id, id)
);
-- One active proxy per principal per meeting.
create unique index proxies_one_active on proxies (meeting_id, principal_head) where status = 'active';
create index proxies_agent on proxies (meeting_id, agent_owner_id) where status = 'active';

-- The counted ballot: exactly one per head per meeting (the database enforces it).
create table ballots (
  compound_id uuid not null,
  meeting_id uuid not null,
  head_key text not null,
  version integer not null check (version >= 1),
  channel text not null check (channel in ('electronic', 'paper', 'proxy')),
  choices jsonb not null check (jsonb_typeof(choices) = 'object'),
  cast_at timestamptz not null,
  primary key (meeting_id, head_key),
  foreign key (meeting_id, head_key) references frozen_heads (meeting_id, head_key)
);

-- Every version ever cast, append-only, with server time and who entered it.
create table ballot_versions (
  id bigint generated always as identity primary key,
  compound_id uuid not null,
  meeting_id uuid not null,
  head_key text not null,
  version integer not null check (version >= 1),
  -- 'cast' by a voter, clerk or agent; 'invalidation' by the street office (a dispute upheld)
  kind text not null default 'cast' check (kind in ('cast', 'invalidation')),
  channel text not null check (channel in ('electronic', 'paper', 'proxy')),
  choices jsonb not null,
  note text,
  cast_by_user uuid references users(id),
  proxy_id uuid references proxies(id),
  paper_serial text,
  collector text,
  received_at timestamptz,
  scan_sha256 text,
  cast_at timestamptz not null default now(),
  unique (meeting_id, head_key, version),
  foreign key (meeting_id, head_key) references frozen_heads (meeting_id, head_key),
  check (kind <> 'cast' or (channel = 'paper') = (paper_serial is not null and collector is not null and received_at is not null)),
  check (kind <> 'cast' or (channel = 'proxy') = (proxy_id is not null)),
  check (kind <> 'invalidation' or length(note) >= 2)
);
create unique index ballot_versions_serial on ballot_versions (meeting_id, paper_serial) where paper_serial is not null;
create trigger ballot_versions_append_only before update or delete on ballot_versions
  for each row execute function refuse_change();

-- Paper ballot scans, kept with the vote (≥ 3 years).
create table ballot_scans (
  sha256 text primary key,
  compound_id uuid not null references compounds(id),
  content bytea not null,
  content_type text not null,
  created_at timestamptz not null default now()
);

-- Disputes of what was recorded for an owner's own units, during the challenge window.
create table disputes (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null,
  meeting_id uuid not null,
  head_key text not null,
  raised_by uuid not null references users(id),
  text text not null check (length(text) between 2 and 2000),
  status text not null default 'open' check (status in ('open', 'upheld', 'rejected')),
  resolution text check (resolution is null or length(resolution) between 2 and 2000),
  resolved_by uuid references users(id),
  resolved_at timestamptz,
  created_at timestamptz not null default now(),
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  check ((status = 'open') = (resolved_at is null)),
  unique (compound_id, id)
);
create index disputes_open on disputes (meeting_id) where status = 'open';

-- Results: one preliminary and one final per meeting.
create table results (
  compound_id uuid not null,
  meeting_id uuid not null,
  kind text not null check (kind in ('preliminary', 'final')),
  computed_at timestamptz not null default now(),
  data jsonb not null,
  primary key (meeting_id, kind),
  foreign key (compound_id, meeting_id) references meetings (compound_id, id)
);

-- Reminders already sent (one per meeting per kind), so several processes never send twice.
create table meeting_jobs (
  meeting_id uuid not null references meetings(id),
  compound_id uuid not null,
  kind text not null,
  done_at timestamptz not null default now(),
  primary key (meeting_id, kind)
);
