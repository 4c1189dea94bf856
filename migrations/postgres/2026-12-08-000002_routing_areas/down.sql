ALTER TABLE assignments DROP COLUMN area_path;
-- Rules of an area below a province do not fit the older schema: only province and
-- nationwide rules stay.
DELETE FROM routing_rules WHERE area <> province;
ALTER TABLE routing_rules DROP CONSTRAINT routing_rules_category_area_city_key;
ALTER TABLE routing_rules ADD CONSTRAINT routing_rules_category_province_city_key UNIQUE (category, province, city);
ALTER TABLE routing_rules DROP COLUMN area;
DROP INDEX agency_areas_by_area;
DROP TABLE agency_areas;
DROP TABLE routing_areas;
