-- Back to the four entities: rows that name a smart process are removed first, as the
-- older code could not read them (their CRM to-dos stay in Bitrix24); a portal left with
-- no entity gets the four back.
DELETE FROM touchpoints WHERE owner_type LIKE 'dynamic\_%';
DELETE FROM pending_todos WHERE owner_type LIKE 'dynamic\_%';
UPDATE settings
   SET enabled_entities = COALESCE(
       NULLIF(ARRAY(SELECT e FROM unnest(enabled_entities) AS e WHERE e NOT LIKE 'dynamic\_%'),
              '{}'),
       ARRAY['lead', 'deal', 'contact', 'company'])
 WHERE array_to_string(enabled_entities, ',') LIKE '%dynamic\_%';

ALTER TABLE settings DROP CONSTRAINT settings_enabled_entities_valid;
ALTER TABLE settings ADD CONSTRAINT settings_enabled_entities_valid
    CHECK (enabled_entities <@ ARRAY['lead', 'deal', 'contact', 'company']
           AND cardinality(enabled_entities) >= 1);

ALTER TABLE pending_todos DROP CONSTRAINT pending_todos_owner_type_valid;
ALTER TABLE pending_todos ADD CONSTRAINT pending_todos_owner_type_valid
    CHECK (owner_type IN ('lead', 'deal', 'contact', 'company'));

ALTER TABLE touchpoints DROP CONSTRAINT touchpoints_owner_type_valid;
ALTER TABLE touchpoints ADD CONSTRAINT touchpoints_owner_type_valid
    CHECK (owner_type IN ('lead', 'deal', 'contact', 'company'));
