//! [`JsonBody`]: the JSON request body extractor of every route. It reads like actix's `web::Json` (same limit, same
//! content-type rule, same error handler) and then applies JSON Schema's number rule: a number with a zero
//! fractional part (`3.0`) is an integer, so integer fields accept it as the OpenAPI document promises.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// A JSON body deserialized into `T`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Rewrites integral floats as integers, everywhere in `value`.
fn integral_floats_to_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                // Both bounds are exact powers of two; within them the cast is exact.
                if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    *value = Value::from(f as u64);
                } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let web::Json(value) = json.await?;
            from_json_value(value).map(JsonBody).map_err(Into::into)
        })
    }
}

/// Deserializes a parsed JSON body into `T` as every route does (integral floats read as integers). Every body is a
/// JSON object: serde would also read a struct from an array of its fields in order, which no schema allows.
pub(crate) fn from_json_value<T: DeserializeOwned>(mut value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid("invalid JSON body: it must be an object"));
    }
    integral_floats_to_integers(&mut value);
    serde_json::from_value(value).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_become_integers() {
        let mut v: Value = serde_json::from_str(r#"{"a": 3.0, "b": [-2.0, 1.5], "c": 1e3}"#).expect("json");
        integral_floats_to_integers(&mut v);
        assert_eq!(v, serde_json::json!({"a": 3, "b": [-2, 1.5], "c": 1000}));
    }
}
