//! Resolving a [`Layout`] against the columns a file actually has.
use super::spec::{DatasetSpec, Layout};
use crate::error::{Error, Result};

/// Time column names tried, in this order, when a wide layout does not name one.
pub(crate) const TIME_CANDIDATES: [&str; 4] = ["date", "ds", "timestamp", "time"];

/// Which file columns play which role.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColumnPlan {
    /// Time column; `None` = synthetic index.
    pub(crate) time: Option<String>,
    /// Series id column.
    pub(crate) series: Option<String>,
    /// Variable-name column (long layout, pivoted).
    pub(crate) variable: Option<String>,
    /// Value columns read from the file, in variate order.
    pub(crate) values: Vec<String>,
    /// Label column.
    pub(crate) label: Option<String>,
}

impl ColumnPlan {
    /// Map `spec.layout` onto `available` (the file's columns, in file order).
    pub(crate) fn resolve(spec: &DatasetSpec, available: &[String]) -> Result<Self> {
        let require = |name: &str| -> Result<String> {
            if available.iter().any(|c| c == name) {
                Ok(name.to_string())
            } else {
                Err(Error::MissingColumn {
                    column: name.to_string(),
                    available: available.join(", "),
                })
            }
        };
        let label = spec
            .label_column
            .as_deref()
            .filter(|l| !spec.label_column_optional || available.iter().any(|c| c == l))
            .map(require)
            .transpose()?;
        let plan = match &spec.layout {
            Layout::Wide {
                time_column,
                series_column,
                value_columns,
            } => {
                let time = match time_column {
                    Some(t) => Some(require(t)?),
                    None => TIME_CANDIDATES
                        .iter()
                        .find_map(|cand| available.iter().find(|c| c.eq_ignore_ascii_case(cand)).cloned()),
                };
                let series = series_column.as_deref().map(require).transpose()?;
                let taken = |c: &String| {
                    Some(c) == time.as_ref() || Some(c) == series.as_ref() || Some(c) == label.as_ref()
                };
                let values = match value_columns {
                    Some(cols) => {
                        let cols = cols.iter().map(|c| require(c)).collect::<Result<Vec<_>>>()?;
                        if let Some(c) = cols.iter().find(|c| taken(c)) {
                            return Err(Error::invalid(
                                "column mapping",
                                format!("`{c}` is both a value column and the time, series or label column"),
                            ));
                        }
                        cols
                    }
                    None => available.iter().filter(|c| !taken(c)).cloned().collect(),
                };
                ColumnPlan {
                    time,
                    series,
                    variable: None,
                    values,
                    label,
                }
            }
            Layout::Long {
                series_column,
                time_column,
                value_column,
                variable_column,
            } => ColumnPlan {
                time: Some(require(time_column)?),
                series: Some(require(series_column)?),
                variable: variable_column.as_deref().map(require).transpose()?,
                values: vec![require(value_column)?],
                label,
            },
        };
        if plan.values.is_empty() {
            return Err(Error::invalid(
                "column mapping",
                format!("no value columns left (the file has: {})", available.join(", ")),
            ));
        }
        if let Some(dup) = plan
            .values
            .iter()
            .enumerate()
            .find(|(i, c)| plan.values[..*i].contains(c))
        {
            return Err(Error::invalid(
                "column mapping",
                format!("value column `{}` listed twice", dup.1),
            ));
        }
        if spec.strict_columns {
            let named = plan.names();
            if let Some(extra) = available.iter().find(|c| !named.contains(&c.as_str())) {
                return Err(Error::UnknownColumn {
                    column: extra.clone(),
                    reason: format!(
                        "strict mode: the mapping does not name it (mapped: {})",
                        named.join(", ")
                    ),
                });
            }
        }
        Ok(plan)
    }

    /// Every file column this plan reads.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        out.extend(self.time.as_deref());
        out.extend(self.series.as_deref());
        out.extend(self.variable.as_deref());
        out.extend(self.values.iter().map(String::as_str));
        out.extend(self.label.as_deref());
        out
    }
}
