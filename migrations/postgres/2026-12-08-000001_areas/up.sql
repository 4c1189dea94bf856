-- Owned by intake. Areas are data: a tree from the provinces down to neighbourhoods, each with
-- an optional GeoJSON boundary. Levels are data too, ranked from the top.
CREATE TABLE area_levels (
    code TEXT PRIMARY KEY,
    rank INTEGER NOT NULL UNIQUE,
    name_fa TEXT NOT NULL,
    name_en TEXT NOT NULL
);
INSERT INTO area_levels (code, rank, name_fa, name_en) VALUES
    ('province', 1, 'استان', 'Province'),
    ('county', 2, 'شهرستان', 'County'),
    ('city', 3, 'شهر', 'City'),
    ('district', 4, 'منطقه', 'District'),
    ('subdistrict', 5, 'ناحیه', 'Sub-district'),
    ('neighbourhood', 6, 'محله', 'Neighbourhood');

CREATE TABLE areas (
    code TEXT PRIMARY KEY,
    parent_code TEXT REFERENCES areas (code),
    level TEXT NOT NULL REFERENCES area_levels (code),
    name_fa TEXT NOT NULL,
    name_en TEXT NOT NULL,
    -- GeoJSON Polygon or MultiPolygon, WGS84.
    geometry TEXT,
    -- The boundary only shows roughly where the area is (demo data): never the real one.
    illustrative BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX areas_parent ON areas (parent_code);

-- The 31 provinces ship as data, as before areas were.
INSERT INTO areas (code, parent_code, level, name_fa, name_en, geometry, illustrative, updated_at) VALUES
    ('alborz', NULL, 'province', 'البرز', 'Alborz', NULL, FALSE, '2026-12-08 00:00:00'),
    ('ardabil', NULL, 'province', 'اردبیل', 'Ardabil', NULL, FALSE, '2026-12-08 00:00:00'),
    ('bushehr', NULL, 'province', 'بوشهر', 'Bushehr', NULL, FALSE, '2026-12-08 00:00:00'),
    ('chaharmahal-bakhtiari', NULL, 'province', 'چهارمحال و بختیاری', 'Chaharmahal and Bakhtiari', NULL, FALSE, '2026-12-08 00:00:00'),
    ('east-azerbaijan', NULL, 'province', 'آذربایجان شرقی', 'East Azerbaijan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('fars', NULL, 'province', 'فارس', 'Fars', NULL, FALSE, '2026-12-08 00:00:00'),
    ('gilan', NULL, 'province', 'گیلان', 'Gilan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('golestan', NULL, 'province', 'گلستان', 'Golestan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('hamadan', NULL, 'province', 'همدان', 'Hamadan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('hormozgan', NULL, 'province', 'هرمزگان', 'Hormozgan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('ilam', NULL, 'province', 'ایلام', 'Ilam', NULL, FALSE, '2026-12-08 00:00:00'),
    ('isfahan', NULL, 'province', 'اصفهان', 'Isfahan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('kerman', NULL, 'province', 'کرمان', 'Kerman', NULL, FALSE, '2026-12-08 00:00:00'),
    ('kermanshah', NULL, 'province', 'کرمانشاه', 'Kermanshah', NULL, FALSE, '2026-12-08 00:00:00'),
    ('khorasan-north', NULL, 'province', 'خراسان شمالی', 'North Khorasan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('khorasan-razavi', NULL, 'province', 'خراسان رضوی', 'Razavi Khorasan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('khorasan-south', NULL, 'province', 'خراسان جنوبی', 'South Khorasan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('khuzestan', NULL, 'province', 'خوزستان', 'Khuzestan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('kohgiluyeh-boyerahmad', NULL, 'province', 'کهگیلویه و بویراحمد', 'Kohgiluyeh and Boyer-Ahmad', NULL, FALSE, '2026-12-08 00:00:00'),
    ('kurdistan', NULL, 'province', 'کردستان', 'Kurdistan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('lorestan', NULL, 'province', 'لرستان', 'Lorestan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('markazi', NULL, 'province', 'مرکزی', 'Markazi', NULL, FALSE, '2026-12-08 00:00:00'),
    ('mazandaran', NULL, 'province', 'مازندران', 'Mazandaran', NULL, FALSE, '2026-12-08 00:00:00'),
    ('qazvin', NULL, 'province', 'قزوین', 'Qazvin', NULL, FALSE, '2026-12-08 00:00:00'),
    ('qom', NULL, 'province', 'قم', 'Qom', NULL, FALSE, '2026-12-08 00:00:00'),
    ('semnan', NULL, 'province', 'سمنان', 'Semnan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('sistan-baluchestan', NULL, 'province', 'سیستان و بلوچستان', 'Sistan and Baluchestan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('tehran', NULL, 'province', 'تهران', 'Tehran', NULL, FALSE, '2026-12-08 00:00:00'),
    ('west-azerbaijan', NULL, 'province', 'آذربایجان غربی', 'West Azerbaijan', NULL, FALSE, '2026-12-08 00:00:00'),
    ('yazd', NULL, 'province', 'یزد', 'Yazd', NULL, FALSE, '2026-12-08 00:00:00'),
    ('zanjan', NULL, 'province', 'زنجان', 'Zanjan', NULL, FALSE, '2026-12-08 00:00:00');

-- Bumped by every import in the same transaction, so every replica rebuilds its point index
-- when, and only when, the areas changed.
CREATE TABLE area_revision (
    id INTEGER PRIMARY KEY,
    revision BIGINT NOT NULL
);
INSERT INTO area_revision (id, revision) VALUES (1, 1);

-- Where a message is: its deepest area, and the codes from its province down (a JSON array).
ALTER TABLE messages ADD COLUMN area TEXT;
ALTER TABLE messages ADD COLUMN area_path TEXT;
UPDATE messages SET area = province, area_path = '["' || province || '"]';
