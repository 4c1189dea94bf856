-- Owned by deadline-timer: the areas a calendar closure may name, as intake announces them
-- (`areas.imported`): a tree from the provinces down to Tehran's districts, sub-districts and
-- neighbourhoods. The 31 provinces are its top and are known from the start, dated before any
-- import so that an import's names replace theirs.
CREATE TABLE calendar_areas (
    code TEXT PRIMARY KEY,
    parent_code TEXT,
    level TEXT NOT NULL,
    name_fa TEXT NOT NULL,
    name_en TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO calendar_areas (code, parent_code, level, name_fa, name_en, updated_at) VALUES
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

-- Each clock remembers where its message is: the area codes from the province down, as a JSON
-- list, so a closure of an area applies to the messages located in it or under it. A clock
-- started before areas knows its province alone.
ALTER TABLE deadlines ADD COLUMN area_path TEXT NOT NULL DEFAULT '[]';
UPDATE deadlines SET area_path = '["' || province || '"]' WHERE province IS NOT NULL;
