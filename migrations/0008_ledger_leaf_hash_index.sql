-- /api/verify?receipt=<leaf hash> looks an entry up by leaf_hash alone (src/ledger/proofs.ts
-- receiptQuery: where leaf_hash = $1, across all meetings). The only index with leaf_hash,
-- unique (meeting_id, leaf_hash) from 0003, leads with meeting_id and cannot serve that lookup, so
-- it was a sequential scan of the whole ledger. Not unique: leaf hashes are unique per meeting only.
create index ledger_entries_leaf_hash on ledger_entries (leaf_hash);
