-- Every domain table carries compound_id, so the database can be partitioned or sharded by
-- compound: the audit's rounds and draws were the two that reached it only through audits.
alter table audit_rounds add column compound_id uuid;
alter table audit_draws add column compound_id uuid;

alter table audit_rounds disable trigger audit_rounds_append_only;
alter table audit_draws disable trigger audit_draws_append_only;
update audit_rounds r set compound_id = a.compound_id from audits a where a.id = r.audit_id;
update audit_draws d set compound_id = a.compound_id from audits a where a.id = d.audit_id;
alter table audit_rounds enable trigger audit_rounds_append_only;
alter table audit_draws enable trigger audit_draws_append_only;

alter table audit_rounds alter column compound_id set not null;
alter table audit_draws alter column compound_id set not null;
alter table audit_rounds add constraint audit_rounds_compound_fk foreign key (compound_id, audit_id) references audits (compound_id, id);
alter table audit_draws add constraint audit_draws_compound_fk foreign key (compound_id, audit_id) references audits (compound_id, id);
