//! Request bodies are read whole, against a deadline, before any handler runs: a client that
//! announces a body and then trickles it (or never sends it) would otherwise hold a worker for
//! as long as its connection lives.

use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::{self, BytesMut};
use futures_util::StreamExt;

use super::json::MAX_JSON_BODY;
use super::problem::ApiError;

/// The largest body a bulk import takes (a GeoJSON of every neighbourhood's boundary).
pub const MAX_IMPORT_BODY: usize = 32 * 1024 * 1024;

/// The routes that take bulk imports, by method and path: only they may send more than
/// [`MAX_JSON_BODY`], and only with credentials (the handler then checks they are an admin's).
const IMPORT_ROUTES: [(&str, &str); 1] = [("PUT", "/api/v1/areas")];

/// The largest body a request may send to `method` `path`, `with_credentials` or not.
pub fn body_limit(method: &str, path: &str, with_credentials: bool) -> usize {
    let import = IMPORT_ROUTES.iter().any(|(m, p)| *m == method && *p == path);
    if import && with_credentials { MAX_IMPORT_BODY } else { MAX_JSON_BODY }
}

/// How long a body may take to arrive (`http.body_read_timeout_secs`).
#[derive(Clone, Copy, Debug)]
pub struct BodyReadTimeout(pub Duration);

/// What reading a body came to.
enum Read {
    Whole(BytesMut),
    TooLarge,
    Broken,
}

async fn read_at_most(payload: &mut Payload, limit: usize) -> Read {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else { return Read::Broken };
        if body.len() + chunk.len() > limit {
            return Read::TooLarge;
        }
        body.extend_from_slice(&chunk);
    }
    Read::Whole(body)
}

/// Reads the body within the configured time and hands it on whole; a body still arriving at the
/// deadline is answered 408, one larger than any route takes 413, each a problem document.
pub async fn read_body_in_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let timeout = req.app_data::<web::Data<BodyReadTimeout>>().map_or(Duration::from_secs(10), |t| t.0);
    let with_credentials = req.headers().contains_key(actix_web::http::header::AUTHORIZATION);
    let limit = body_limit(req.method().as_str(), req.path(), with_credentials);
    let mut payload = req.take_payload();
    let refusal = match tokio::time::timeout(timeout, read_at_most(&mut payload, limit)).await {
        Ok(Read::Whole(body)) => {
            req.set_payload(Payload::from(body.freeze()));
            return Ok(next.call(req).await?.map_into_boxed_body());
        }
        Ok(Read::TooLarge) => ApiError::PayloadTooLarge(format!("the body is larger than the {limit} bytes accepted")),
        Ok(Read::Broken) => ApiError::bad_request(Some("body"), "the body could not be read; send it again"),
        Err(_) => ApiError::RequestTimeout(format!(
            "the body did not arrive within {} seconds; send the whole body at once",
            timeout.as_secs()
        )),
    };
    let mut response = actix_web::ResponseError::error_response(&refusal);
    // The rest of a body that was refused may still be on its way: the connection ends here.
    response.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(req.into_response(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_import_with_credentials_may_send_a_large_body() {
        assert_eq!(body_limit("PUT", "/api/v1/areas", true), MAX_IMPORT_BODY);
        assert_eq!(body_limit("PUT", "/api/v1/areas", false), MAX_JSON_BODY, "no credentials, no large body");
        assert_eq!(body_limit("POST", "/api/v1/areas", true), MAX_JSON_BODY);
        assert_eq!(body_limit("PUT", "/api/v1/categories/x", true), MAX_JSON_BODY);
    }
}
