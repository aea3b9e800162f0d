-- A counted unit whose co-owners have not named a voter still counts in the frozen totals, in
-- area and as one head of its own (DOMAIN §2: co-owners of one unit are one head), under the head
-- key 'unit:<unit id>'. Such a head has no owner: nobody can cast for it electronically or by
-- proxy, only a paper ballot entered for its unit. So frozen_heads.owner_id may be null (the
-- foreign key (compound_id, owner_id) is not checked for a null owner_id).
alter table frozen_heads alter column owner_id drop not null;
