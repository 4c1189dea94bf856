ALTER TABLE assignments DROP COLUMN area_path;
-- Rules of an area below a province do not fit the older schema: only province and
-- nationwide rules stay.
CREATE TABLE routing_rules_rebuilt (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    province TEXT NOT NULL,
    city TEXT NOT NULL,
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (category, province, city)
);
INSERT INTO routing_rules_rebuilt (id, category, province, city, agency_id, created_at)
SELECT id, category, province, city, agency_id, created_at FROM routing_rules WHERE area = province;
DROP TABLE routing_rules;
ALTER TABLE routing_rules_rebuilt RENAME TO routing_rules;
DROP INDEX agency_areas_by_area;
DROP TABLE agency_areas;
DROP TABLE routing_areas;
