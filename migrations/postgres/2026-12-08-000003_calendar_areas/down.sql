ALTER TABLE deadlines DROP COLUMN area_path;
DROP TABLE calendar_areas;
