-- The ballot ledger: append-only entries, their positions in the Merkle tree (assigned by the
-- integrator, as a Certificate Transparency log merges submissions), and signed checkpoints.
-- None of these rows can ever be updated or deleted (triggers), whatever the role.

create table ledger_entries (
  id bigint generated always as identity primary key,
  compound_id uuid not null,
  meeting_id uuid not null,
  kind text not null check (kind in ('roll_frozen', 'ballot_cast', 'proxy_registered', 'proxy_revoked',
    'ballot_invalidated', 'voting_closed', 'result_computed')),
  -- the exact canonical bytes (UTF-8 JSON, sorted keys) whose leaf hash goes into the tree
  canonical text not null,
  leaf_hash text not null check (leaf_hash ~ '^[0-9a-f]{64}$'),
  -- head the entry concerns (ballot events), for receipts and the owner's own record
  head_key text,
  receipt_code text,
  -- signed promise of inclusion (signature over meeting, leaf hash and time) given at cast time
  promise_sig text not null,
  created_at timestamptz not null default now(),
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  unique (meeting_id, leaf_hash)
);
create index ledger_entries_meeting on ledger_entries (meeting_id, id);
create unique index ledger_entries_receipt on ledger_entries (receipt_code) where receipt_code is not null;
create index ledger_entries_head on ledger_entries (meeting_id, head_key) where head_key is not null;

create table ledger_positions (
  compound_id uuid not null,
  meeting_id uuid not null,
  leaf_index bigint not null check (leaf_index >= 0),
  entry_id bigint not null unique references ledger_entries(id),
  primary key (meeting_id, leaf_index)
);

create table ledger_checkpoints (
  id bigint generated always as identity primary key,
  compound_id uuid not null,
  meeting_id uuid not null,
  tree_size bigint not null check (tree_size >= 0),
  root_hash text not null check (root_hash ~ '^[0-9a-f]{64}$'),
  signed_at timestamptz not null,
  key_id text not null,
  signature text not null,
  is_final boolean not null default false,
  foreign key (compound_id, meeting_id) references meetings (compound_id, id),
  unique (meeting_id, tree_size, signed_at)
);
create index ledger_checkpoints_meeting on ledger_checkpoints (meeting_id, tree_size desc);

-- Street-office staff confirm (countersign) a checkpoint they have seen.
create table checkpoint_countersignatures (
  checkpoint_id bigint not null references ledger_checkpoints(id),
  compound_id uuid not null,
  user_id uuid not null references users(id),
  signed_at timestamptz not null default now(),
  -- HMAC of the checkpoint statement with the server key, binding who confirmed which root
  statement text not null,
  primary key (checkpoint_id, user_id)
);

create trigger ledger_entries_append_only before update or delete on ledger_entries for each row execute function refuse_change();
create trigger ledger_positions_append_only before update or delete on ledger_positions for each row execute function refuse_change();
create trigger ledger_checkpoints_append_only before update or delete on ledger_checkpoints for each row execute function refuse_change();
create trigger checkpoint_countersignatures_append_only before update or delete on checkpoint_countersignatures for each row execute function refuse_change();
create trigger ledger_entries_no_truncate before truncate on ledger_entries for each statement execute function refuse_change();
create trigger ledger_positions_no_truncate before truncate on ledger_positions for each statement execute function refuse_change();
create trigger ledger_checkpoints_no_truncate before truncate on ledger_checkpoints for each statement execute function refuse_change();
