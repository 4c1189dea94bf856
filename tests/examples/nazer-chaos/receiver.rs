//! The agency's webhook endpoint: checks each signature and keeps, per receipt, the event id,
//! and when it came (a re-send is the same event id again).

use std::sync::{Arc, Mutex};

use crate::support::WEBHOOK_SECRET;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use nazer_notification::signature;
use nazer_shared::testing::LocalServer;

#[derive(Debug, Clone)]
pub struct Receipt {
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub signed: bool,
}

pub struct Receiver {
    pub url: String,
    receipts: Arc<Mutex<Vec<Receipt>>>,
    server: LocalServer,
}

fn header(req: &HttpRequest, name: &str) -> String {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

impl Receiver {
    pub fn start() -> Self {
        let receipts: Arc<Mutex<Vec<Receipt>>> = Arc::default();
        let store = receipts.clone();
        let server = LocalServer::start(move |cfg| {
            let store = store.clone();
            cfg.default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let store = store.clone();
                async move {
                    let at = Utc::now();
                    let signed =
                        signature::verify(WEBHOOK_SECRET, &header(&req, signature::HEADER), &body, at.timestamp(), 600);
                    let receipt = Receipt { event_id: header(&req, "X-Nazer-Event-Id"), at, signed };
                    store.lock().unwrap_or_else(|p| p.into_inner()).push(receipt);
                    HttpResponse::NoContent().finish()
                }
            }));
        });
        Self { url: server.url.clone(), receipts, server }
    }

    pub fn receipts(&self) -> Vec<Receipt> {
        self.receipts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}
