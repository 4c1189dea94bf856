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

-- SQLite cannot drop a table constraint: routing_rules is rebuilt (no table refers to it).
CREATE TABLE routing_rules_rebuilt (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    province TEXT NOT NULL,
    city TEXT NOT NULL,
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    created_at TIMESTAMP NOT NULL,
    area TEXT NOT NULL,
    UNIQUE (category, area, city)
);
INSERT INTO routing_rules_rebuilt (id, category, province, city, agency_id, created_at, area)
SELECT id, category, province, city, agency_id, created_at, province FROM routing_rules;
DROP TABLE routing_rules;
ALTER TABLE routing_rules_rebuilt RENAME TO routing_rules;

ALTER TABLE assignments ADD COLUMN area_path TEXT NOT NULL DEFAULT '[]';
UPDATE assignments SET area_path = json_array(province);
