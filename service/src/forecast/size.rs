//! The encoded size of a forecast response, bounded before anything is computed.
//!
//! A forecast's output grows as series × horizon × variates × (1 + quantiles), so a small
//! request can ask for a response far larger than the server may send (or hold). [`check`]
//! computes an upper bound of the protobuf encoding from the validated request alone and
//! refuses the request with `RESOURCE_EXHAUSTED` when it cannot fit the server's message
//! limit: the whole response for `Forecast`, each message (one series) for `ForecastStream`.
use super::request::ValidRequest;
use crate::registry::VersionInfo;
use crate::{Error, Result};

/// How the response is delivered, which decides what must fit one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// `Forecast`: every series in one message.
    Unary,
    /// `ForecastStream`: one message per series.
    Stream,
}

/// Bytes of a length-delimited field's tag and length prefix, at most.
const FIELD_OVERHEAD: u64 = 1 + 10;
/// Bytes of a varint-encoded timestamp, at most.
const TIMESTAMP_BYTES: u64 = 10;
/// Bytes of one `Matrix` besides its values: rows, cols, the values field's tag and length.
const MATRIX_OVERHEAD: u64 = FIELD_OVERHEAD + 2 * (1 + 10) + FIELD_OVERHEAD;

/// An upper bound of the encoded size of one series' forecast (`SeriesForecast` as a field).
pub fn series_bytes(id_len: usize, horizon: usize, variates: usize, quantiles: usize) -> u64 {
    let (h, v, q) = (horizon as u64, variates as u64, quantiles as u64);
    let matrix = MATRIX_OVERHEAD.saturating_add(h.saturating_mul(v).saturating_mul(4));
    // Each quantile: its double (tag + 8 bytes) and its matrix, inside a length-delimited field.
    let quantile = FIELD_OVERHEAD.saturating_add(9).saturating_add(matrix);
    FIELD_OVERHEAD
        .saturating_add(FIELD_OVERHEAD.saturating_add(id_len as u64))
        .saturating_add(FIELD_OVERHEAD.saturating_add(h.saturating_mul(TIMESTAMP_BYTES)))
        .saturating_add(matrix)
        .saturating_add(q.saturating_mul(quantile))
}

/// An upper bound of the encoded `ResolvedModel` that every response carries.
fn model_bytes(info: &VersionInfo) -> u64 {
    let names: usize = info
        .columns
        .iter()
        .map(|c| c.len() + FIELD_OVERHEAD as usize)
        .sum();
    let method = info.intervals.as_ref().map_or(0, |i| i.method.len());
    (info.name.len() + names + method) as u64 + 4 * FIELD_OVERHEAD + 10
}

/// Refuse `request` when its response cannot fit `max_message_bytes` as delivered.
///
/// # Errors
/// [`Error::ResourceExhausted`] naming the estimated and the allowed size.
pub fn check(
    info: &VersionInfo,
    request: &ValidRequest,
    max_message_bytes: usize,
    delivery: Delivery,
) -> Result<()> {
    let per_series = request.series.iter().map(|s| {
        series_bytes(
            s.id.len(),
            request.horizon,
            info.columns.len(),
            request.quantiles.len(),
        )
    });
    let model = model_bytes(info);
    let needed = match delivery {
        Delivery::Unary => per_series.fold(model, u64::saturating_add),
        Delivery::Stream => per_series.max().unwrap_or(0).saturating_add(model),
    };
    if needed <= max_message_bytes as u64 {
        return Ok(());
    }
    let what = match delivery {
        Delivery::Unary => format!(
            "the response ({} series × {} steps × {} variates × {} quantiles + the point forecast) would take up to {needed} bytes",
            request.series.len(),
            request.horizon,
            info.columns.len(),
            request.quantiles.len()
        ),
        Delivery::Stream => format!(
            "one streamed series ({} steps × {} variates × {} quantiles + the point forecast) would take up to {needed} bytes",
            request.horizon,
            info.columns.len(),
            request.quantiles.len()
        ),
    };
    Err(Error::ResourceExhausted {
        reason: format!(
            "{what}, more than the server's message limit of {max_message_bytes} bytes (--max-message-mib); ask for fewer series, steps or quantiles{}",
            if delivery == Delivery::Unary {
                ", or use ForecastStream"
            } else {
                ""
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use statecast_pipelines::Frequency;
    use statecast_proto::v1 as pb;

    use super::*;
    use crate::forecast::{SeriesForecast, SeriesInput};

    fn info() -> VersionInfo {
        VersionInfo {
            name: "model".into(),
            version: 1,
            kind: "Linear".into(),
            columns: vec!["a".into(), "b".into(), "c".into()],
            frequency: Some("1h".into()),
            lookback: 4,
            horizon: 24,
            created_at: chrono::Utc::now(),
            registered_at: chrono::Utc::now(),
            labels: vec![],
            metrics: Default::default(),
            intervals: Some(crate::forecast::intervals::IntervalStats {
                method: crate::forecast::intervals::METHOD_RESIDUAL_RMS.into(),
                horizon: 24,
                variates: 3,
                sigma: vec![1.0; 72],
                grid: None,
            }),
            content_hash: None,
        }
    }

    fn request(series: usize, quantiles: usize) -> ValidRequest {
        ValidRequest {
            series: (0..series)
                .map(|i| SeriesInput {
                    id: format!("series-{i}"),
                    timestamps: vec![0],
                    rows: 1,
                    cols: 3,
                    values: vec![0.0; 3],
                })
                .collect(),
            horizon: 24,
            quantiles: (1..=quantiles)
                .map(|k| k as f64 / (quantiles + 1) as f64)
                .collect(),
            frequency: Frequency::from_micros(3_600_000_000),
        }
    }

    /// The bound is an upper bound of what prost really encodes, and not a loose one.
    #[test]
    fn the_bound_covers_the_real_encoding() {
        let info = info();
        let req = request(5, 7);
        let series: Vec<pb::SeriesForecast> = req
            .series
            .iter()
            .map(|s| {
                SeriesForecast {
                    id: s.id.clone(),
                    timestamps: vec![i64::MAX - 1; 24],
                    variates: 3,
                    point: vec![1.5; 72],
                    quantiles: req.quantiles.iter().map(|&q| (q, vec![2.5; 72])).collect(),
                }
                .into()
            })
            .collect();
        let response = pb::ForecastResponse {
            model: Some(crate::convert::forecast::resolved(&info)),
            series,
        };
        let encoded = response.encoded_len() as u64;
        let bound = model_bytes(&info)
            + req
                .series
                .iter()
                .map(|s| series_bytes(s.id.len(), 24, 3, 7))
                .sum::<u64>();
        assert!(encoded <= bound, "encoded {encoded} > bound {bound}");
        assert!(
            bound < encoded + encoded / 4,
            "bound {bound} too loose for {encoded}"
        );
        check(&info, &req, encoded as usize, Delivery::Unary).unwrap_err();
        check(&info, &req, bound as usize, Delivery::Unary).unwrap();
    }

    #[test]
    fn oversized_responses_are_refused_per_delivery() {
        let info = info();
        // 300 series × 24 × 3 × 101 matrices ≈ 8.7 MB: over 4 MiB in one message, fine streamed.
        let req = request(300, 100);
        let err = check(&info, &req, 4 << 20, Delivery::Unary).unwrap_err();
        assert!(matches!(err, Error::ResourceExhausted { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("300 series × 24 steps × 3 variates × 100 quantiles")
                && text.contains("4194304 bytes"),
            "{text}"
        );
        check(&info, &req, 4 << 20, Delivery::Stream).unwrap();
        // A single series too large for one message is refused even when streamed.
        let err = check(&info, &request(1, 100), 20_000, Delivery::Stream).unwrap_err();
        assert!(err.to_string().contains("one streamed series"), "{err}");
    }

    #[test]
    fn sizes_saturate_instead_of_wrapping() {
        assert_eq!(
            series_bytes(usize::MAX, usize::MAX, usize::MAX, usize::MAX),
            u64::MAX
        );
    }
}
