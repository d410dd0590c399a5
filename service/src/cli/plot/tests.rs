//! Plot tests: tick labels, figure sizes and runs; a synthetic forecast figure decodes to the
//! expected size with forecast-coloured and dark (text) pixels; the library path (prepare →
//! Repeat → forecast windows → PNG) works on simulator data; a detection figure decodes to its
//! size.
use std::path::Path;

use statecast_models::device::DeviceSpec;
use statecast_models::zoo::ModelFamily;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::simulate::{SimConfig, simulate};
use statecast_pipelines::sink::{WriteOptions, write_parquet};
use statecast_pipelines::source::{DatasetSpec, Layout};
use statecast_pipelines::split::SplitSpec;
use statecast_service::data::prepare;
use statecast_service::ltsf::forecast_window;

use super::*;

/// Decoded RGB8 image.
struct Rgb {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl Rgb {
    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    fn count(&self, ys: std::ops::Range<u32>, pred: impl Fn([u8; 3]) -> bool) -> usize {
        ys.flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| pred(self.pixel(x, y)))
            .count()
    }
}

fn decode(path: &Path) -> Rgb {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG magic");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    Rgb {
        width: info.width,
        height: info.height,
        data: buf,
    }
}

fn is_forecast(p: [u8; 3]) -> bool {
    let c = [FORECAST_COLOUR.0, FORECAST_COLOUR.1, FORECAST_COLOUR.2];
    p.iter().zip(c).all(|(&a, b)| a.abs_diff(b) <= 12)
}

fn is_dark(p: [u8; 3]) -> bool {
    p.iter().all(|&v| v < 80)
}

fn assert_not_blank(img: &Rgb, panels: usize) {
    let forecast = img.count(TITLE_HEIGHT..img.height, is_forecast);
    assert!(
        forecast > 100 * panels,
        "only {forecast} forecast-coloured pixels"
    );
    let title_text = img.count(0..TITLE_HEIGHT, is_dark);
    assert!(
        title_text > 200,
        "only {title_text} dark pixels in the title strip"
    );
    let dark = img.count(TITLE_HEIGHT..img.height, is_dark);
    assert!(dark > 1000 * panels, "only {dark} dark pixels in the panels");
}

#[test]
fn synthetic_panels_render_to_a_legible_png() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forecast.png");
    let (l, h) = (96, 48);
    let panels: Vec<ForecastPanel> = (0..4)
        .map(|k| {
            let f = |t: usize| ((t as f32) * 0.15 + k as f32).sin() * (1.0 + k as f32) + 10.0 * k as f32;
            ForecastPanel {
                title: format!("synthetic v{k} window {}", k * 10),
                history: (0..l).map(f).collect(),
                actual: (l..l + h).map(f).collect(),
                forecast: (l..l + h).map(|t| f(t) * 0.9 + 0.3).collect(),
                band: None,
            }
        })
        .collect();
    plot_forecasts(&path, "synthetic forecasts", &panels).unwrap();
    let img = decode(&path);
    assert_eq!((img.width, img.height), figure_size(4));
    assert_eq!((img.width, img.height), (1280, TITLE_HEIGHT + 2 * 340));
    assert_not_blank(&img, 4);
    // No temporary file is left next to the output.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("forecast.png")]);
}

#[test]
fn invalid_panels_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.png");
    assert!(plot_forecasts(&path, "empty", &[]).is_err());
    let panel = ForecastPanel {
        title: "mismatch".into(),
        history: vec![1.0; 4],
        actual: vec![1.0; 3],
        forecast: vec![1.0; 2],
        band: None,
    };
    assert!(plot_forecasts(&path, "mismatch", &[panel]).is_err());
    assert!(!path.exists());
}

#[test]
fn repeat_forecasts_on_simulator_data_plot() {
    let dir = tempfile::tempdir().unwrap();
    let sim = simulate(&SimConfig {
        series: 1,
        variates: 3,
        length: 1200,
        missing_rate: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let data = dir.path().join("sim.parquet");
    write_parquet(&sim.frame, &data, &WriteOptions::default()).unwrap();
    let mut spec = DatasetSpec::wide(&data);
    spec.layout = Layout::Wide {
        time_column: Some("timestamp".into()),
        series_column: Some("series_id".into()),
        value_columns: None,
    };
    spec.label_column = Some("label".into());
    spec.missing = MissingPolicy::Error;
    let (l, h) = (96usize, 24usize);
    let split: SplitSpec = "ratio:0.7,0.1,0.2".parse().unwrap();
    let prepared = prepare(&spec, &split, l).unwrap();
    let test = prepared.datasets(h).unwrap().test.unwrap();
    let device = DeviceSpec::Cpu.device().unwrap();
    let model = ModelFamily::Repeat.default_config(l, h).init(&device).unwrap();

    // Repeat's forecast is the last look-back row, in original units.
    let c = prepared.scaled.n_variates();
    let (x, y, forecast) = forecast_window(&model, &prepared, &test, 0, &device).unwrap();
    assert_eq!((x.len(), y.len(), forecast.len()), (l * c, h * c, h * c));
    for t in 0..h {
        for v in 0..c {
            let (got, want) = (forecast[t * c + v], x[(l - 1) * c + v]);
            assert!(
                (got - want).abs() <= 1e-3 * want.abs().max(1.0),
                "t={t} v={v}: {got} vs {want}"
            );
        }
    }

    let panels = forecast_panels(&model, &prepared, &test, "sim", 3, &device);
    assert_eq!(panels.len(), 6);
    let last = &prepared.scaled.columns[c - 1];
    assert_eq!(panels[0].title, format!("sim {last} window 0"));
    assert!(panels.iter().all(|p| p.history.len() == l && p.actual.len() == h));
    let path = dir.path().join("sim.png");
    plot_forecasts(&path, "sim: repeat", &panels).unwrap();
    assert!(path.exists());
    let img = decode(&path);
    assert_eq!((img.width, img.height), figure_size(6));
    assert_not_blank(&img, 6);
}

#[test]
fn tick_labels_are_short() {
    assert_eq!(format_tick(0.0), "0");
    assert_eq!(format_tick(1.5), "1.5");
    assert_eq!(format_tick(-0.001), "0");
    assert_eq!(format_tick(1234.4), "1234");
    assert_eq!(format_tick(2.0e6), "2.0e6");
}

#[test]
fn detection_plot_decodes_with_expected_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.png");
    let n = 500;
    let row = |id: &str, labels: Vec<(usize, usize)>| DetectionPanel {
        title: id.into(),
        variates: vec![
            ("a".into(), (0..n).map(|i| (i as f32 * 0.1).sin()).collect()),
            (
                "b".into(),
                (0..n)
                    .map(|i| if i == 3 { f32::NAN } else { i as f32 * 0.01 })
                    .collect(),
            ),
        ],
        score: (0..n)
            .map(|i| if i < 10 { f64::NAN } else { (i % 50) as f64 / 10.0 })
            .collect(),
        threshold: 4.0,
        alarms: true_runs((0..n).map(|i| i % 50 >= 40)),
        labels,
    };
    let rows = [row("s1", vec![(100, 140)]), row("s2", Vec::new())];
    plot_detection(&path, "detect", &rows).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), detection_figure_size(2));
    assert_eq!(
        detection_figure_size(2),
        (2 * PANEL_WIDTH, TITLE_HEIGHT + 2 * PANEL_HEIGHT)
    );
    assert!(buf.iter().any(|&b| b != 255));
    assert!(plot_detection(&path, "x", &[]).is_err());
}

#[test]
fn runs_of_flags() {
    assert_eq!(true_runs([false, true, true, false, true]), vec![(1, 3), (4, 5)]);
    assert!(true_runs([false, false]).is_empty());
}

#[test]
fn figure_size_grid() {
    assert_eq!(figure_size(1), (PANEL_WIDTH, TITLE_HEIGHT + PANEL_HEIGHT));
    assert_eq!(figure_size(6), (2 * PANEL_WIDTH, TITLE_HEIGHT + 3 * PANEL_HEIGHT));
}
