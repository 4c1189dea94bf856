//! The areas closures may name, known from `areas.imported`. PostgreSQL and RabbitMQ when
//! NAZER_TEST_DATABASE_URL and NAZER_TEST_BROKER_URL are set; SQLite and the in-process bus
//! otherwise.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use nazer_deadline_timer::areas::store::{AreaRow, find_area, record_areas};
use nazer_shared::events::{AreaSummary, AreasImported};
use nazer_shared::testing::fixtures::{envelope, write};
use nazer_shared::testing::{TestApp, eventually};

fn area(code: &str, parent: &str, level: &str, name_fa: &str) -> AreaSummary {
    AreaSummary {
        code: code.into(),
        parent: Some(parent.into()),
        level: level.into(),
        name_fa: name_fa.into(),
        name_en: code.into(),
    }
}

/// Tehran's city, two of its districts and a neighbourhood of district 6, parents first.
fn tehran_areas() -> Vec<AreaSummary> {
    vec![
        area("tehran-city", "tehran", "city", "شهر تهران"),
        area("tehran-district-06", "tehran-city", "district", "منطقه ۶"),
        area("tehran-district-07", "tehran-city", "district", "منطقه ۷"),
        area("tehran-yusefabad", "tehran-district-06", "neighbourhood", "یوسف‌آباد"),
    ]
}

fn imported(areas: Vec<AreaSummary>, at: DateTime<Utc>) -> AreasImported {
    AreasImported { import_id: uuid::Uuid::now_v7().to_string(), areas, imported_at: at }
}

fn known(app: &TestApp, code: &str) -> Option<AreaRow> {
    let mut conn = app.db().get().unwrap();
    find_area(&mut conn, code).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn areas_imported_is_recorded_once_whatever_the_redeliveries_and_their_order() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    let provinces = known(&app, "tehran").unwrap();
    assert_eq!((provinces.level.as_str(), provinces.parent_code.as_deref()), ("province", None));
    assert!(known(&app, "sistan-baluchestan").is_some(), "the 31 provinces are known from the start");
    assert!(known(&app, "tehran-city").is_none());

    // Through the bus: the same event delivered twice is applied once.
    let first = imported(tehran_areas(), Utc::now());
    let event = envelope("intake", &first);
    let bus = app.host.as_ref().unwrap().bus.clone();
    bus.publish(&event).await.unwrap();
    bus.publish(&event).await.unwrap();
    let district = eventually(StdDuration::from_secs(10), "district 6 to be known", || async {
        known(&app, "tehran-district-06")
    })
    .await;
    assert_eq!((district.parent_code.as_deref(), district.name_fa.as_str()), (Some("tehran-city"), "منطقه ۶"));

    // The same import recorded again (a redelivery under a new id, or the demo seeding) changes
    // nothing; a later one renames; an older one arriving after it is kept out.
    let before: Vec<Option<AreaRow>> = tehran_areas().iter().map(|a| known(&app, &a.code)).collect();
    write(&app, |conn| record_areas(conn, &first.areas, first.imported_at));
    let after: Vec<Option<AreaRow>> = tehran_areas().iter().map(|a| known(&app, &a.code)).collect();
    assert_eq!(after, before);
    let renamed = vec![area("tehran-district-06", "tehran-city", "district", "منطقهٔ شش")];
    let later = first.imported_at + chrono::Duration::hours(1);
    write(&app, |conn| record_areas(conn, &renamed, later));
    let stale = vec![area("tehran-district-06", "tehran-city", "district", "قدیمی")];
    write(&app, |conn| record_areas(conn, &stale, first.imported_at + chrono::Duration::minutes(1)));
    assert_eq!(known(&app, "tehran-district-06").unwrap().name_fa, "منطقهٔ شش");
    // A province's names come from the import too.
    let tehran = AreaSummary { parent: None, ..area("tehran", "-", "province", "استان تهران") };
    write(&app, |conn| record_areas(conn, &[tehran], later));
    assert_eq!(known(&app, "tehran").unwrap().name_fa, "استان تهران");
    assert_eq!(known(&app, "tehran").unwrap().parent_code, None);
    app.stop().await;
}
