-- Owned by routing: the areas it knows (a projection of intake's area tree, kept by
-- `areas.imported`), starting with the 31 provinces, the top of the tree; the area a routing rule
-- covers ('*' everywhere; older rules cover their province, so the unique key moves from the
-- province to the area); the areas each agency serves; and the area path of every routed
-- message (province first, deepest last, as JSON), so a decline reroutes it by the same path
-- (older messages: their province alone).
CREATE TABLE routing_areas (
    code TEXT PRIMARY KEY,
    parent_code TEXT,
    level TEXT NOT NULL,
    name_fa TEXT NOT NULL,
    name_en TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO routing_areas (code, parent_code, level, name_fa, name_en, updated_at) VALUES
    ('alborz', NULL, 'province', 'البرز', 'Alborz', (now() AT TIME ZONE 'UTC')),
    ('ardabil', NULL, 'province', 'اردبیل', 'Ardabil', (now() AT TIME ZONE 'UTC')),
    ('bushehr', NULL, 'province', 'بوشهر', 'Bushehr', (now() AT TIME ZONE 'UTC')),
    ('chaharmahal-bakhtiari', NULL, 'province', 'چهارمحال و بختیاری', 'Chaharmahal and Bakhtiari', (now() AT TIME ZONE 'UTC')),
    ('east-azerbaijan', NULL, 'province', 'آذربایجان شرقی', 'East Azerbaijan', (now() AT TIME ZONE 'UTC')),
    ('fars', NULL, 'province', 'فارس', 'Fars', (now() AT TIME ZONE 'UTC')),
    ('gilan', NULL, 'province', 'گیلان', 'Gilan', (now() AT TIME ZONE 'UTC')),
    ('golestan', NULL, 'province', 'گلستان', 'Golestan', (now() AT TIME ZONE 'UTC')),
    ('hamadan', NULL, 'province', 'همدان', 'Hamadan', (now() AT TIME ZONE 'UTC')),
    ('hormozgan', NULL, 'province', 'هرمزگان', 'Hormozgan', (now() AT TIME ZONE 'UTC')),
    ('ilam', NULL, 'province', 'ایلام', 'Ilam', (now() AT TIME ZONE 'UTC')),
    ('isfahan', NULL, 'province', 'اصفهان', 'Isfahan', (now() AT TIME ZONE 'UTC')),
    ('kerman', NULL, 'province', 'کرمان', 'Kerman', (now() AT TIME ZONE 'UTC')),
    ('kermanshah', NULL, 'province', 'کرمانشاه', 'Kermanshah', (now() AT TIME ZONE 'UTC')),
    ('khorasan-north', NULL, 'province', 'خراسان شمالی', 'North Khorasan', (now() AT TIME ZONE 'UTC')),
    ('khorasan-razavi', NULL, 'province', 'خراسان رضوی', 'Razavi Khorasan', (now() AT TIME ZONE 'UTC')),
    ('khorasan-south', NULL, 'province', 'خراسان جنوبی', 'South Khorasan', (now() AT TIME ZONE 'UTC')),
    ('khuzestan', NULL, 'province', 'خوزستان', 'Khuzestan', (now() AT TIME ZONE 'UTC')),
    ('kohgiluyeh-boyerahmad', NULL, 'province', 'کهگیلویه و بویراحمد', 'Kohgiluyeh and Boyer-Ahmad', (now() AT TIME ZONE 'UTC')),
    ('kurdistan', NULL, 'province', 'کردستان', 'Kurdistan', (now() AT TIME ZONE 'UTC')),
    ('lorestan', NULL, 'province', 'لرستان', 'Lorestan', (now() AT TIME ZONE 'UTC')),
    ('markazi', NULL, 'province', 'مرکزی', 'Markazi', (now() AT TIME ZONE 'UTC')),
    ('mazandaran', NULL, 'province', 'مازندران', 'Mazandaran', (now() AT TIME ZONE 'UTC')),
    ('qazvin', NULL, 'province', 'قزوین', 'Qazvin', (now() AT TIME ZONE 'UTC')),
    ('qom', NULL, 'province', 'قم', 'Qom', (now() AT TIME ZONE 'UTC')),
    ('semnan', NULL, 'province', 'سمنان', 'Semnan', (now() AT TIME ZONE 'UTC')),
    ('sistan-baluchestan', NULL, 'province', 'سیستان و بلوچستان', 'Sistan and Baluchestan', (now() AT TIME ZONE 'UTC')),
    ('tehran', NULL, 'province', 'تهران', 'Tehran', (now() AT TIME ZONE 'UTC')),
    ('west-azerbaijan', NULL, 'province', 'آذربایجان غربی', 'West Azerbaijan', (now() AT TIME ZONE 'UTC')),
    ('yazd', NULL, 'province', 'یزد', 'Yazd', (now() AT TIME ZONE 'UTC')),
    ('zanjan', NULL, 'province', 'زنجان', 'Zanjan', (now() AT TIME ZONE 'UTC'));

CREATE TABLE agency_areas (
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    area_code TEXT NOT NULL REFERENCES routing_areas (code),
    PRIMARY KEY (agency_id, area_code)
);
CREATE INDEX agency_areas_by_area ON agency_areas (area_code);

ALTER TABLE routing_rules ADD COLUMN area TEXT;
UPDATE routing_rules SET area = province;
ALTER TABLE routing_rules ALTER COLUMN area SET NOT NULL;
ALTER TABLE routing_rules DROP CONSTRAINT routing_rules_category_province_city_key;
ALTER TABLE routing_rules ADD CONSTRAINT routing_rules_category_area_city_key UNIQUE (category, area, city);

ALTER TABLE assignments ADD COLUMN area_path TEXT;
UPDATE assignments SET area_path = json_build_array(province)::text;
ALTER TABLE assignments ALTER COLUMN area_path SET NOT NULL;
