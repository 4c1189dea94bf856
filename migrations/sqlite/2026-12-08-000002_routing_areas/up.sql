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
    ('alborz', NULL, 'province', 'البرز', 'Alborz', CURRENT_TIMESTAMP),
    ('ardabil', NULL, 'province', 'اردبیل', 'Ardabil', CURRENT_TIMESTAMP),
    ('bushehr', NULL, 'province', 'بوشهر', 'Bushehr', CURRENT_TIMESTAMP),
    ('chaharmahal-bakhtiari', NULL, 'province', 'چهارمحال و بختیاری', 'Chaharmahal and Bakhtiari', CURRENT_TIMESTAMP),
    ('east-azerbaijan', NULL, 'province', 'آذربایجان شرقی', 'East Azerbaijan', CURRENT_TIMESTAMP),
    ('fars', NULL, 'province', 'فارس', 'Fars', CURRENT_TIMESTAMP),
    ('gilan', NULL, 'province', 'گیلان', 'Gilan', CURRENT_TIMESTAMP),
    ('golestan', NULL, 'province', 'گلستان', 'Golestan', CURRENT_TIMESTAMP),
    ('hamadan', NULL, 'province', 'همدان', 'Hamadan', CURRENT_TIMESTAMP),
    ('hormozgan', NULL, 'province', 'هرمزگان', 'Hormozgan', CURRENT_TIMESTAMP),
    ('ilam', NULL, 'province', 'ایلام', 'Ilam', CURRENT_TIMESTAMP),
    ('isfahan', NULL, 'province', 'اصفهان', 'Isfahan', CURRENT_TIMESTAMP),
    ('kerman', NULL, 'province', 'کرمان', 'Kerman', CURRENT_TIMESTAMP),
    ('kermanshah', NULL, 'province', 'کرمانشاه', 'Kermanshah', CURRENT_TIMESTAMP),
    ('khorasan-north', NULL, 'province', 'خراسان شمالی', 'North Khorasan', CURRENT_TIMESTAMP),
    ('khorasan-razavi', NULL, 'province', 'خراسان رضوی', 'Razavi Khorasan', CURRENT_TIMESTAMP),
    ('khorasan-south', NULL, 'province', 'خراسان جنوبی', 'South Khorasan', CURRENT_TIMESTAMP),
    ('khuzestan', NULL, 'province', 'خوزستان', 'Khuzestan', CURRENT_TIMESTAMP),
    ('kohgiluyeh-boyerahmad', NULL, 'province', 'کهگیلویه و بویراحمد', 'Kohgiluyeh and Boyer-Ahmad', CURRENT_TIMESTAMP),
    ('kurdistan', NULL, 'province', 'کردستان', 'Kurdistan', CURRENT_TIMESTAMP),
    ('lorestan', NULL, 'province', 'لرستان', 'Lorestan', CURRENT_TIMESTAMP),
    ('markazi', NULL, 'province', 'مرکزی', 'Markazi', CURRENT_TIMESTAMP),
    ('mazandaran', NULL, 'province', 'مازندران', 'Mazandaran', CURRENT_TIMESTAMP),
    ('qazvin', NULL, 'province', 'قزوین', 'Qazvin', CURRENT_TIMESTAMP),
    ('qom', NULL, 'province', 'قم', 'Qom', CURRENT_TIMESTAMP),
    ('semnan', NULL, 'province', 'سمنان', 'Semnan', CURRENT_TIMESTAMP),
    ('sistan-baluchestan', NULL, 'province', 'سیستان و بلوچستان', 'Sistan and Baluchestan', CURRENT_TIMESTAMP),
    ('tehran', NULL, 'province', 'تهران', 'Tehran', CURRENT_TIMESTAMP),
    ('west-azerbaijan', NULL, 'province', 'آذربایجان غربی', 'West Azerbaijan', CURRENT_TIMESTAMP),
    ('yazd', NULL, 'province', 'یزد', 'Yazd', CURRENT_TIMESTAMP),
    ('zanjan', NULL, 'province', 'زنجان', 'Zanjan', CURRENT_TIMESTAMP);

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
