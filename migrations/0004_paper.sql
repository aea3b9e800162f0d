-- Paper ballots (纸质表决票) that cannot be made up: each one is issued by the system for one unit,
-- with a serial (sequential per meeting) and a code = HMAC(server key, meeting | unit | serial)
-- printed on it; the code is recomputed at entry, never stored. Issued ballots go out in batches
-- (a collector or a ballot box), so every batch can be reconciled: issued = entered + spoiled +
-- outstanding. Every refused entry is kept in paper_rejections for the street office.
-- All four tables are append-only.

-- A batch of ballots handed to one collector (收票人) or put out with one ballot box (投票箱).
create table paper_batches (
  id uuid primary key default gen_random_uuid(),
  compound_id uuid not null,
  meeting_id uuid not null,
  kind text not null check (kind in ('collector', 'box')),
  label text not null check (length(label) between 1 and 50),
  issued_by uuid not null references users(id),
  issued_at timestamptz not null,
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  unique (meeting_id, id)
);
create index paper_batches_meeting on paper_batches (meeting_id, issued_at);

-- One printed ballot: serial ↔ unit ↔ batch. The code is not stored (it is recomputed).
create table paper_ballots (
  compound_id uuid not null,
  meeting_id uuid not null,
  serial text not null check (serial ~ '^P[0-9]{5,}$'),
  seq integer not null check (seq >= 1),
  unit_id uuid not null,
  -- the room as printed on the ballot (e.g. 1号楼1单元101)
  unit_label text not null,
  batch_id uuid not null,
  issued_at timestamptz not null,
  primary key (meeting_id, serial),
  unique (meeting_id, seq),
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  foreign key (meeting_id, batch_id) references paper_batches (meeting_id, id),
  foreign key (compound_id, unit_id) references units (compound_id, id)
);
create index paper_ballots_unit on paper_ballots (meeting_id, unit_id);
create index paper_ballots_batch on paper_ballots (batch_id);

-- A ballot returned spoiled (废票: torn, unreadable, filled in for the wrong unit …): returned, not counted.
create table paper_spoiled (
  compound_id uuid not null,
  meeting_id uuid not null,
  serial text not null,
  reason text not null check (length(reason) between 2 and 500),
  recorded_by uuid not null references users(id),
  recorded_at timestamptz not null,
  primary key (meeting_id, serial),
  foreign key (meeting_id, serial) references paper_ballots (meeting_id, serial)
);

-- Every refused attempt to enter (or record as spoiled) a paper ballot: a serial never issued for
-- the meeting, a code that does not match, a unit other than the one the serial was issued for, a
-- serial already entered or already recorded as spoiled. Written in its own transaction after the
-- refused one has rolled back, so the record survives the refusal.
create table paper_rejections (
  id bigint generated always as identity primary key,
  compound_id uuid not null,
  meeting_id uuid not null,
  action text not null check (action in ('enter', 'spoil')),
  -- the serial as given (normalised to upper case)
  serial text not null check (length(serial) between 1 and 60),
  reason text not null check (reason in ('not_issued', 'bad_code', 'wrong_unit', 'already_entered', 'already_spoiled')),
  -- the unit given with the attempt, if any
  unit_id uuid,
  -- the batch the serial was issued in, when it was issued at all
  batch_id uuid,
  collector text,
  attempted_by uuid not null references users(id),
  attempted_at timestamptz not null,
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  foreign key (meeting_id, batch_id) references paper_batches (meeting_id, id)
);
create index paper_rejections_meeting on paper_rejections (meeting_id, id);

create trigger paper_batches_append_only before update or delete on paper_batches for each row execute function refuse_change();
create trigger paper_ballots_append_only before update or delete on paper_ballots for each row execute function refuse_change();
create trigger paper_spoiled_append_only before update or delete on paper_spoiled for each row execute function refuse_change();
create trigger paper_rejections_append_only before update or delete on paper_rejections for each row execute function refuse_change();
create trigger paper_batches_no_truncate before truncate on paper_batches for each statement execute function refuse_change();
create trigger paper_ballots_no_truncate before truncate on paper_ballots for each statement execute function refuse_change();
create trigger paper_spoiled_no_truncate before truncate on paper_spoiled for each statement execute function refuse_change();
create trigger paper_rejections_no_truncate before truncate on paper_rejections for each statement execute function refuse_change();
