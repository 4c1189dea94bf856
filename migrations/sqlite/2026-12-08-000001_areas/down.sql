ALTER TABLE messages DROP COLUMN area_path;
ALTER TABLE messages DROP COLUMN area;
DROP TABLE area_revision;
DROP TABLE areas;
DROP TABLE area_levels;
