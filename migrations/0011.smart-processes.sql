-- Smart processes (DESIGN.md §3.7): a touch-point's owner type and a portal's enabled
-- entities may now name a smart-process type as ``dynamic_<entityTypeId>`` next to the
-- four entities. One spelling per type: no leading zero, at least three digits (the
-- smallest entityTypeId of a smart process is 128).
-- depends: 0010.event-inbox

ALTER TABLE touchpoints DROP CONSTRAINT touchpoints_owner_type_valid;
ALTER TABLE touchpoints ADD CONSTRAINT touchpoints_owner_type_valid
    CHECK (owner_type ~ '^(lead|deal|contact|company|dynamic_[1-9][0-9]{2,9})$');

ALTER TABLE pending_todos DROP CONSTRAINT pending_todos_owner_type_valid;
ALTER TABLE pending_todos ADD CONSTRAINT pending_todos_owner_type_valid
    CHECK (owner_type ~ '^(lead|deal|contact|company|dynamic_[1-9][0-9]{2,9})$');

-- Four entities and at most 50 smart processes; every element one of the spellings
-- (array_to_string drops NULLs, so a NULL element is refused on its own).
ALTER TABLE settings DROP CONSTRAINT settings_enabled_entities_valid;
ALTER TABLE settings ADD CONSTRAINT settings_enabled_entities_valid
    CHECK (cardinality(enabled_entities) BETWEEN 1 AND 54
           AND array_position(enabled_entities, NULL) IS NULL
           AND array_to_string(enabled_entities, ',')
               ~ '^(lead|deal|contact|company|dynamic_[1-9][0-9]{2,9})(,(lead|deal|contact|company|dynamic_[1-9][0-9]{2,9}))*$');
