DROP TABLE calendar_areas;
