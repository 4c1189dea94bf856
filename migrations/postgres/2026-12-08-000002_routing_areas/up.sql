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
    ('alborz', NULL, 'province', 'البرز', 'Alborz', '1970-01-01 00:00:00'),
    ('ardabil', NULL, 'province', 'اردبیل', 'Ardabil', '1970-01-01 00:00:00'),
    ('bushehr', NULL, 'province', 'بوشهر', 'Bushehr', '1970-01-01 00:00:00'),
    ('chaharmahal-bakhtiari', NULL, 'province', 'چهارمحال و بختیاری', 'Chaharmahal and Bakhtiari', '1970-01-01 00:00:00'),
    ('east-azerbaijan', NULL, 'province', 'آذربایجان شرقی', 'East Azerbaijan', '1970-01-01 00:00:00'),
    ('fars', NULL, 'province', 'فارس', 'Fars', '1970-01-01 00:00:00'),
    ('gilan', NULL, 'province', 'گیلان', 'Gilan', '1970-01-01 00:00:00'),
    ('golestan', NULL, 'province', 'گلستان', 'Golestan', '1970-01-01 00:00:00'),
    ('hamadan', NULL, 'province', 'همدان', 'Hamadan', '1970-01-01 00:00:00'),
    ('hormozgan', NULL, 'province', 'هرمزگان', 'Hormozgan', '1970-01-01 00:00:00'),
    ('ilam', NULL, 'province', 'ایلام', 'Ilam', '1970-01-01 00:00:00'),
    ('isfahan', NULL, 'province', 'اصفهان', 'Isfahan', '1970-01-01 00:00:00'),
    ('kerman', NULL, 'province', 'کرمان', 'Kerman', '1970-01-01 00:00:00'),
    ('kermanshah', NULL, 'province', 'کرمانشاه', 'Kermanshah', '1970-01-01 00:00:00'),
    ('khorasan-north', NULL, 'province', 'خراسان شمالی', 'North Khorasan', '1970-01-01 00:00:00'),
    ('khorasan-razavi', NULL, 'province', 'خراسان رضوی', 'Razavi Khorasan', '1970-01-01 00:00:00'),
    ('khorasan-south', NULL, 'province', 'خراسان جنوبی', 'South Khorasan', '1970-01-01 00:00:00'),
    ('khuzestan', NULL, 'province', 'خوزستان', 'Khuzestan', '1970-01-01 00:00:00'),
    ('kohgiluyeh-boyerahmad', NULL, 'province', 'کهگیلویه و بویراحمد', 'Kohgiluyeh and Boyer-Ahmad', '1970-01-01 00:00:00'),
    ('kurdistan', NULL, 'province', 'کردستان', 'Kurdistan', '1970-01-01 00:00:00'),
    ('lorestan', NULL, 'province', 'لرستان', 'Lorestan', '1970-01-01 00:00:00'),
    ('markazi', NULL, 'province', 'مرکزی', 'Markazi', '1970-01-01 00:00:00'),
    ('mazandaran', NULL, 'province', 'مازندران', 'Mazandaran', '1970-01-01 00:00:00'),
    ('qazvin', NULL, 'province', 'قزوین', 'Qazvin', '1970-01-01 00:00:00'),
    ('qom', NULL, 'province', 'قم', 'Qom', '1970-01-01 00:00:00'),
    ('semnan', NULL, 'province', 'سمنان', 'Semnan', '1970-01-01 00:00:00'),
    ('sistan-baluchestan', NULL, 'province', 'سیستان و بلوچستان', 'Sistan and Baluchestan', '1970-01-01 00:00:00'),
    ('tehran', NULL, 'province', 'تهران', 'Tehran', '1970-01-01 00:00:00'),
    ('west-azerbaijan', NULL, 'province', 'آذربایجان غربی', 'West Azerbaijan', '1970-01-01 00:00:00'),
    ('yazd', NULL, 'province', 'یزد', 'Yazd', '1970-01-01 00:00:00'),
    ('zanjan', NULL, 'province', 'زنجان', 'Zanjan', '1970-01-01 00:00:00');

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
