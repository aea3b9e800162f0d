-- Registry, roll, identities, audit log, outbox. Every domain table carries compound_id (the tenant).

-- Jurisdiction tree: city → district → street office → community (社区居委会).
-- Each node carries its ancestors (and itself at its own level), so "inside the subtree of
-- node S at level L" is one equality: <L>_id = S.
create table jurisdictions (
  id uuid primary key default gen_random_uuid(),
  parent_id uuid references jurisdictions(id),
  level text not null check (level in ('city', 'district', 'street', 'community')),
  name text not null check (length(name) between 1 and 100),
  city_id uuid not null,
  district_id uuid,
  street_id uuid,
  community_id uuid,
  created_at timestamptz not null default now(),
  unique (id, level),
  check ((level = 'city') = (parent_id is null))
);

create function jurisdictions_fill_ancestors() returns trigger language plpgsql as $$
declare p jurisdictions%rowtype;
begin
  if new.parent_id is null then
    new.city_id := new.id; new.district_id := null; new.street_id := null; new.community_id := null;
    return new;
  end if;
  select * into p from jurisdictions where id = new.parent_id;
  if (new.level = 'district' and p.level <> 'city') or (new.level = 'street' and p.level <> 'district')
     or (new.level = 'community' and p.level <> 'street') then
    raise exception 'jurisdiction % cannot be placed under %', new.level, p.level using errcode = '23514';
  end if;
  new.city_id := p.city_id; new.district_id := p.district_id; new.street_id := p.street_id; new.community_id := null;
  if new.level = 'district' then new.district_id := new.id;
  elsif new.level = 'street' then new.street_id := new.id;
  elsif new.level = 'community' then new.community_id := new.id; end if;
  return new;
end $$;

create trigger jurisdictions_ancestors before insert or update of parent_id, level on jurisdictions
  for each row execute function jurisdictions_fill_ancestors();

-- 小区: the tenant. Its ancestors are copied from its community.
create table compounds (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 100),
  address text not null default '' check (length(address) <= 200),
  community_id uuid not null references jurisdictions(id),
  street_id uuid not null,
  district_id uuid not null,
  city_id uuid not null,
  settings jsonb not null default '{}'::jsonb check (jsonb_typeof(settings) = 'object'),
  created_at timestamptz not null default now()
);
create index compounds_street on compounds (street_id);
create index compounds_district on compounds (district_id);
create index compounds_community on compounds (community_id);

create function compounds_fill_ancestors() returns trigger language plpgsql as $$
declare c jurisdictions%rowtype;
begin
  select * into c from jurisdictions where id = new.community_id;
  if c.level is distinct from 'community' then
    raise exception 'a compound belongs to a community' using errcode = '23514';
  end if;
  new.street_id := c.street_id; new.district_id := c.district_id; new.city_id := c.city_id;
  return new;
end $$;
create trigger compounds_ancestors before insert or update of community_id on compounds
  for each row execute function compounds_fill_ancestors();

create table buildings (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null references compounds(id),
  name text not null check (length(name) between 1 and 50),
  unique (compound_id, name),
  unique (compound_id, id)
);

-- 专有部分: area in integer hundredths of a square metre (exact arithmetic, never floats).
create table units (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null references compounds(id),
  building_id uuid not null,
  entrance text not null default '' check (length(entrance) <= 20),
  room text not null check (length(room) between 1 and 30),
  kind text not null check (kind in ('residence', 'commercial', 'parking', 'other')),
  area_centi bigint not null check (area_centi > 0 and area_centi < 100000000),
  area_source text not null check (area_source in ('register', 'survey', 'contract')),
  -- proof of delivery, recorded for the contested "silence" setting (DOMAIN §2)
  delivered_on date,
  created_at timestamptz not null default now(),
  foreign key (compound_id, building_id) references buildings (compound_id, id),
  unique (compound_id, building_id, entrance, room),
  unique (compound_id, id)
);

create table owners (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null references compounds(id),
  kind text not null check (kind in ('person', 'organisation')),
  is_developer boolean not null default false,
  name text not null check (length(name) between 1 and 100),
  phone text check (phone ~ '^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$'),
  email text check (email is null or (length(email) <= 254 and email like '%_@_%')),
  id_number text check (id_number is null or id_number ~ '^[0-9]{17}[0-9X]$'),
  has_arrears boolean not null default false,
  created_at timestamptz not null default now(),
  check (not is_developer or kind = 'organisation'),
  unique (compound_id, id)
);
create unique index owners_identity on owners (compound_id, name, coalesce(phone, ''));
create index owners_phone on owners (phone);

-- Ownership of units over time; votes use the roll as it stood when frozen.
-- Co-owners of one unit name one voter (is_voter); one current voter per unit.
create table ownerships (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null,
  unit_id uuid not null,
  owner_id uuid not null,
  is_voter boolean not null default false,
  valid_from date not null default current_date,
  valid_to date,
  created_at timestamptz not null default now(),
  foreign key (compound_id, unit_id) references units (compound_id, id),
  foreign key (compound_id, owner_id) references owners (compound_id, id),
  check (valid_to is null or valid_to >= valid_from)
);
create unique index ownerships_one_voter on ownerships (unit_id) where is_voter and valid_to is null;
create unique index ownerships_current on ownerships (unit_id, owner_id) where valid_to is null;
create index ownerships_owner on ownerships (owner_id);
create index ownerships_compound on ownerships (compound_id) where valid_to is null;

-- Accounts. Owners and committee members belong to one compound; staff to one node of the tree,
-- whose level must match the role (enforced by the composite foreign key on scope_level).
create table users (
  id uuid primary key default gen_random_uuid(),
  role text not null check (role in ('owner', 'committee', 'street', 'district', 'residents', 'city')),
  display_name text not null check (length(display_name) between 1 and 100),
  phone text unique check (phone ~ '^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$'),
  email text check (email is null or (length(email) <= 254 and email like '%_@_%')),
  password_hash text,
  owner_id uuid,
  compound_id uuid references compounds(id),
  jurisdiction_id uuid,
  scope_level text generated always as (
    case role when 'street' then 'street' when 'district' then 'district'
              when 'residents' then 'community' when 'city' then 'city' end) stored,
  status text not null default 'active' check (status in ('pending', 'active', 'disabled')),
  token_version integer not null default 0,
  created_by uuid references users(id),
  created_at timestamptz not null default now(),
  foreign key (jurisdiction_id, scope_level) references jurisdictions (id, level),
  foreign key (compound_id, owner_id) references owners (compound_id, id),
  check ((role in ('owner', 'committee')) = (compound_id is not null)),
  check ((role in ('owner', 'committee')) = (jurisdiction_id is null)),
  check (role <> 'owner' or owner_id is not null),
  check (phone is not null or email is not null or status = 'pending')
);
create unique index users_email on users (lower(email));
create unique index users_owner on users (owner_id) where role = 'owner';

-- One-time codes (sign-in, activation letters, registration). Only a keyed hash is stored.
create table one_time_codes (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users(id),
  purpose text not null check (purpose in ('signin', 'activation', 'register')),
  code_hash text not null,
  expires_at timestamptz not null,
  consumed_at timestamptz,
  attempts integer not null default 0 check (attempts >= 0),
  created_at timestamptz not null default now()
);
create index one_time_codes_user on one_time_codes (user_id, purpose) where consumed_at is null;

-- Single sign-out: the token's jti is revoked until it would have expired anyway.
create table revoked_tokens (
  jti uuid primary key,
  user_id uuid not null references users(id),
  expires_at timestamptz not null
);

-- Append-only security audit log: who, what, when, outcome. No personal data in detail.
create table audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  compound_id uuid,
  actor_user_id uuid,
  actor_role text,
  action text not null,
  outcome text not null check (outcome in ('ok', 'denied', 'failed')),
  target text,
  detail jsonb not null default '{}'::jsonb,
  request_id text,
  ip text
);
create index audit_log_compound on audit_log (compound_id, at);
create index audit_log_actor on audit_log (actor_user_id, at);

create function refuse_change() returns trigger language plpgsql as $$
begin
  raise exception '% is append-only', tg_table_name using errcode = '42501';
end $$;
create trigger audit_log_append_only before update or delete on audit_log
  for each row execute function refuse_change();

-- Outbox: written in the same transaction as the change that causes the message.
create table outbox (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid references compounds(id),
  kind text not null,
  to_address text not null check (length(to_address) <= 254),
  subject text not null,
  body_text text not null,
  status text not null default 'pending' check (status in ('pending', 'sent', 'dead')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text,
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  check ((status = 'sent') = (sent_at is not null))
);
create index outbox_due on outbox (next_attempt_at) where status = 'pending';

-- Roll imports: the uploaded file is kept, so a mapping step and the audit can refer to it
-- without any state in the app process.
create table roll_imports (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null references compounds(id),
  created_by uuid not null references users(id),
  created_at timestamptz not null default now(),
  filename text not null default '' check (length(filename) <= 200),
  encoding text,
  content bytea not null,
  mapping jsonb,
  status text not null default 'pending' check (status in ('pending', 'applied', 'rejected')),
  report jsonb,
  applied_at timestamptz,
  unique (compound_id, id)
);

-- Fixed-window counters for rate limits, shared by every app process.
create table rate_limits (
  key text primary key,
  hits integer not null,
  reset_at timestamptz not null
);
