//! Scalar functions that give DataFusion MySQL's semantics where its own differ:
//! collation weights (comparisons, grouping and ordering under utf8mb4_general_ci /
//! utf8mb4_bin with PAD SPACE), LIKE under general_ci, and `/` on exact values giving a
//! DECIMAL with four more digits of scale (MySQL's `div_precision_increment`).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, Decimal128Array};
use arrow_buffer::{i256, BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use reef_common::collation::{ascii_general_ci_eq_key_in, ascii_weighs_as_itself, Collation};
use reef_sql::expr::{LikePattern, LikeScratch};

/// MySQL's `div_precision_increment` default: `/` adds this many digits of scale.
pub const DIV_SCALE_INCREMENT: i8 = 4;

fn arrays(args: &[ColumnarValue], rows: usize) -> Result<Vec<ArrayRef>> {
    args.iter()
        .map(|a| a.to_array(rows))
        .collect::<Result<Vec<_>>>()
}

fn strings(a: &ArrayRef) -> Result<Vec<Option<&str>>> {
    Ok(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().iter().collect(),
        DataType::LargeUtf8 => a.as_string::<i64>().iter().collect(),
        DataType::Utf8View => a.as_string_view().iter().collect(),
        DataType::Null => vec![None; a.len()],
        other => return exec_err!("expected a string, got {other}"),
    })
}

/// A collation-bound function's name: `ci` under general_ci, `bin` under the binary
/// collations.
fn named(collation: Collation, ci: &'static str, bin: &'static str) -> &'static str {
    match collation {
        Collation::Utf8mb4GeneralCi => ci,
        Collation::Utf8mb4Bin | Collation::Binary => bin,
    }
}

/// `reef_weight_ci(s)` / `reef_weight_bin(s)`: the collation's sort key of `s`, so byte
/// comparison of weights is the collation's comparison; `reef_eqkey_ci(s)` /
/// `reef_eqkey_bin(s)`: its equality key ([`Collation::eq_key_into`]), equal exactly when
/// the strings are, for `=`, `IN`, join keys and grouping, where order does not matter.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Weight {
    name: &'static str,
    collation: Collation,
    /// Equality keys rather than sort keys.
    equality: bool,
    signature: Signature,
}

impl Weight {
    /// The sort-key function of `collation`.
    pub fn udf(collation: Collation) -> ScalarUDF {
        let name = named(collation, "reef_weight_ci", "reef_weight_bin");
        Weight::build(name, collation, false)
    }

    /// The equality-key function of `collation`.
    pub fn eq_udf(collation: Collation) -> ScalarUDF {
        let name = named(collation, "reef_eqkey_ci", "reef_eqkey_bin");
        Weight::build(name, collation, true)
    }

    fn build(name: &'static str, collation: Collation, equality: bool) -> ScalarUDF {
        ScalarUDF::new_from_impl(Weight {
            name,
            collation,
            equality,
            signature: Signature::string(1, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for Weight {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args.args, args.number_rows)?;
        if self.equality {
            if let Some(keys) = own_eq_keys(self.collation, &a[0]) {
                return Ok(ColumnarValue::Array(Arc::new(keys)));
            }
        }
        let values = strings(&a[0])?;
        // Every key is written straight into the result's buffer: no allocation per row.
        let total: usize = values.iter().flatten().map(|s| s.len()).sum();
        let mut data = Vec::with_capacity(if self.equality {
            total
        } else {
            // Two bytes a character and a segment (17 bytes) or more a string.
            total * 3 + values.len() * 17
        });
        let mut offsets = Vec::with_capacity(values.len() + 1);
        offsets.push(0i32);
        for s in &values {
            if let Some(s) = s {
                if self.equality {
                    self.collation.eq_key_into(s.as_bytes(), &mut data);
                } else {
                    self.collation.sort_key_into(s.as_bytes(), &mut data);
                }
            }
            let end = i32::try_from(data.len());
            let Ok(end) = end else {
                return exec_err!("collation weights of one batch exceed 2 GiB");
            };
            offsets.push(end);
        }
        let nulls = NullBuffer::from_iter(values.iter().map(Option::is_some));
        let out = BinaryArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(data),
            Some(nulls).filter(|n| n.null_count() > 0),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The equality keys of a string array whose strings are already their own keys, as a
/// binary array sharing its buffers: under `binary` always; under utf8mb4_bin when no
/// string ends in a space; under general_ci when, besides, every byte is ASCII weighing as
/// itself ([`ascii_weighs_as_itself`]), as TPC-H's flags and modes are. `None` otherwise,
/// and for arrays that are not `Utf8`.
fn own_eq_keys(collation: Collation, a: &ArrayRef) -> Option<BinaryArray> {
    let s = a.as_string_opt::<i32>()?;
    let offsets = s.offsets();
    let bytes = s.values();
    let used = &bytes[offsets[0] as usize..offsets[offsets.len() - 1] as usize];
    let no_trailing_space = || {
        offsets
            .windows(2)
            .all(|w| w[0] == w[1] || bytes[w[1] as usize - 1] != b' ')
    };
    let own = match collation {
        Collation::Binary => true,
        Collation::Utf8mb4Bin => no_trailing_space(),
        Collation::Utf8mb4GeneralCi => ascii_weighs_as_itself(used) && no_trailing_space(),
    };
    own.then(|| BinaryArray::new(offsets.clone(), bytes.clone(), s.nulls().cloned()))
}

/// `reef_in_ci(s, k1, k2, ...)` / `reef_in_bin(...)`: whether `s` equals one of the
/// constant strings `k` under the collation, NULL when `s` is NULL: `s = 'k'` and
/// `s IN ('k1', 'k2')` over a column, without writing a key per row
/// ([`Collation::eq_key_in`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct InStrings {
    name: &'static str,
    collation: Collation,
    signature: Signature,
}

impl InStrings {
    /// The function of `collation`.
    pub fn udf(collation: Collation) -> ScalarUDF {
        ScalarUDF::new_from_impl(InStrings {
            name: named(collation, "reef_in_ci", "reef_in_bin"),
            collation,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for InStrings {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some((first, constants)) = args.args.split_first() else {
            return exec_err!("{} takes a string and constants", self.name);
        };
        let mut keys = Vec::with_capacity(constants.len());
        for c in constants {
            let ColumnarValue::Scalar(v) = c else {
                return exec_err!("{} compares with constants only", self.name);
            };
            let Some(Some(k)) = v.try_as_str() else {
                return exec_err!("{} compares with non-NULL strings only, got {v}", self.name);
            };
            let mut key = Vec::new();
            self.collation.eq_key_into(k.as_bytes(), &mut key);
            keys.push(key);
        }
        let text = first.to_array(args.number_rows)?;
        // Strings that are their own equality keys: compared with the keys byte for byte.
        if let Some(own) = own_eq_keys(self.collation, &text) {
            let (offsets, bytes) = (own.offsets(), own.values());
            let hits = BooleanBuffer::collect_bool(own.len(), |i| {
                let s = &bytes[offsets[i] as usize..offsets[i + 1] as usize];
                // Byte by byte rather than through memcmp: these strings are short, and a
                // call per row cost more than the comparison.
                keys.iter()
                    .any(|k| k.len() == s.len() && k.iter().zip(s).all(|(a, b)| a == b))
            });
            let out = BooleanArray::new(hits, own.nulls().cloned());
            return Ok(ColumnarValue::Array(Arc::new(out)));
        }
        let mut scratch = Vec::new();
        let mut matches = |s: &str| self.collation.eq_key_in(s.as_bytes(), &keys, &mut scratch);
        let out: BooleanArray = match text.as_string_opt::<i32>() {
            // An ASCII column (checked once, not per row) under general_ci compares its
            // strings' bytes with the keys straight away.
            Some(column)
                if self.collation == Collation::Utf8mb4GeneralCi && column.values().is_ascii() =>
            {
                column
                    .iter()
                    .map(|s| s.map(|s| ascii_general_ci_eq_key_in(s.as_bytes(), &keys)))
                    .collect()
            }
            // The column's own type: no vector of the strings first.
            Some(column) => column.iter().map(|s| s.map(&mut matches)).collect(),
            None => strings(&text)?
                .into_iter()
                .map(|s| s.map(&mut matches))
                .collect(),
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `reef_like(s, pattern[, escape])`: LIKE under utf8mb4_general_ci.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Like {
    signature: Signature,
}

impl Like {
    /// The function.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Like {
            signature: Signature::one_of(
                vec![
                    datafusion::logical_expr::TypeSignature::String(2),
                    datafusion::logical_expr::TypeSignature::String(3),
                ],
                Volatility::Immutable,
            ),
        })
    }
}

impl ScalarUDFImpl for Like {
    fn name(&self) -> &str {
        "reef_like"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args.args, args.number_rows)?;
        let text = strings(&a[0])?;
        let pattern = strings(&a[1])?;
        let escape = match a.get(2) {
            Some(e) => strings(e)?,
            None => vec![None; text.len()],
        };
        // The pattern is compiled once for each run of rows that share it (a constant
        // pattern: once per batch).
        let mut compiled: Option<(&str, char, LikePattern)> = None;
        let mut scratch = LikeScratch::default();
        let out: BooleanArray = text
            .iter()
            .zip(&pattern)
            .zip(&escape)
            .map(|((t, p), e)| {
                let (t, p) = ((*t)?, (*p)?);
                let esc = e.and_then(|e| e.chars().next()).unwrap_or('\\');
                if !matches!(&compiled, Some((text, e, _)) if *text == p && *e == esc) {
                    compiled = Some((p, esc, LikePattern::general_ci(p, esc)));
                }
                let (_, _, pattern) = compiled.as_ref().expect("compiled above");
                Some(pattern.matches(t, &mut scratch))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `reef_to_double(s)`: a string as MySQL reads it where it is compared with a number: its
/// numeric prefix as a DOUBLE (`'12abc'` is 12, `'abc'` is 0), where DataFusion's cast
/// fails on anything but a whole number.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToDouble {
    signature: Signature,
}

impl ToDouble {
    /// The function.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(ToDouble {
            signature: Signature::string(1, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for ToDouble {
    fn name(&self) -> &str {
        "reef_to_double"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args.args, args.number_rows)?;
        let out: arrow_array::Float64Array = strings(&a[0])?
            .into_iter()
            .map(|t| t.map(|t| reef_sql::datum::parse_number_prefix(t.as_bytes())))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `reef_div(a, b)` over DECIMAL128 operands: MySQL's `/` on exact values. The result has
/// the dividend's scale plus [`DIV_SCALE_INCREMENT`], rounds half away from zero, and is
/// NULL when dividing by zero (MySQL's answer in a SELECT).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Div {
    signature: Signature,
}

impl Div {
    /// The function.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Div {
            signature: Signature::any(2, Volatility::Immutable),
        })
    }

    /// The result type for operand types `a` and `b` (both DECIMAL128).
    pub fn result_type(a: &DataType, b: &DataType) -> Result<DataType> {
        match (a, b) {
            (DataType::Decimal128(pa, sa), DataType::Decimal128(..)) => {
                let scale = (*sa + DIV_SCALE_INCREMENT).clamp(0, 38);
                let precision = (*pa + DIV_SCALE_INCREMENT as u8).min(38).max(scale as u8);
                Ok(DataType::Decimal128(precision, scale))
            }
            _ => exec_err!("reef_div takes DECIMAL operands, got {a} and {b}"),
        }
    }
}

impl ScalarUDFImpl for Div {
    fn name(&self) -> &str {
        "reef_div"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Div::result_type(&args[0], &args[1])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let out_type = args.return_field.data_type().clone();
        let a = arrays(&args.args, args.number_rows)?;
        let (DataType::Decimal128(_, sb), DataType::Decimal128(p, s)) =
            (a[1].data_type().clone(), out_type.clone())
        else {
            return exec_err!("reef_div takes DECIMAL operands");
        };
        let x = a[0].as_primitive::<Decimal128Type>();
        let y = a[1].as_primitive::<Decimal128Type>();
        let DataType::Decimal128(_, sa) = a[0].data_type().clone() else {
            return exec_err!("reef_div takes DECIMAL operands");
        };
        // a/b at scale s: A * 10^(sb + s - sa) / B, rounded half away from zero.
        let shift = (sb as i32 + s as i32 - sa as i32).max(0) as u32;
        let factor = i256::from_i128(10).wrapping_pow(shift);
        let mut out = Vec::with_capacity(x.len());
        for i in 0..x.len() {
            if x.is_null(i) || y.is_null(i) || y.value(i) == 0 {
                out.push(None);
                continue;
            }
            let num = i256::from_i128(x.value(i)) * factor;
            let den = i256::from_i128(y.value(i));
            let q = num / den;
            let r = num % den;
            let twice = r.wrapping_abs() * i256::from_i128(2);
            let q = if twice >= den.wrapping_abs() {
                if (num < i256::ZERO) != (den < i256::ZERO) {
                    q - i256::ONE
                } else {
                    q + i256::ONE
                }
            } else {
                q
            };
            match q.to_i128() {
                Some(v) => out.push(Some(v)),
                None => return exec_err!("DECIMAL value is out of range in division"),
            }
        }
        let arr = Decimal128Array::from(out).with_precision_and_scale(p, s)?;
        Ok(ColumnarValue::Array(Arc::new(arr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;
    use datafusion::common::config::ConfigOptions;
    use datafusion::common::ScalarValue;

    fn scalar(v: ScalarValue) -> ColumnarValue {
        ColumnarValue::Scalar(v)
    }

    /// `udf` over `args`: as many rows as an array argument has, one if all are scalars.
    fn call(udf: &ScalarUDF, args: Vec<ColumnarValue>, ret: DataType) -> ArrayRef {
        let rows = args
            .iter()
            .find_map(|a| match a {
                ColumnarValue::Array(a) => Some(a.len()),
                ColumnarValue::Scalar(_) => None,
            })
            .unwrap_or(1);
        let fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        udf.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields: fields,
            number_rows: rows,
            return_field: Arc::new(Field::new("r", ret, true)),
            config_options: Arc::new(ConfigOptions::default()),
        })
        .expect("runs")
        .to_array(rows)
        .expect("array")
    }

    /// Equality keys shared from the strings' own buffers equal the ones written key by key,
    /// and strings that are not their own keys (lower case, trailing spaces, non-ASCII,
    /// NULLs beside them) still get written keys.
    #[test]
    fn equality_keys_of_strings_that_are_their_own_keys_are_shared() {
        use arrow_array::StringArray;
        let cases: Vec<Vec<Option<&str>>> = vec![
            vec![Some("R"), Some("A"), None, Some("N"), Some("")],
            vec![Some("DELIVER IN PERSON"), Some("NONE")],
            vec![Some("R"), Some("a")],
            vec![Some("R"), Some("A ")],
            vec![Some("R"), Some("É")],
        ];
        for collation in [
            Collation::Utf8mb4GeneralCi,
            Collation::Utf8mb4Bin,
            Collation::Binary,
        ] {
            let udf = Weight::eq_udf(collation);
            for case in &cases {
                let input: ArrayRef = Arc::new(StringArray::from(case.clone()));
                let got = call(
                    &udf,
                    vec![ColumnarValue::Array(input.clone())],
                    DataType::Binary,
                );
                let got = got.as_binary::<i32>();
                for (i, s) in case.iter().enumerate() {
                    match s {
                        None => assert!(got.is_null(i)),
                        Some(s) => {
                            let mut key = Vec::new();
                            collation.eq_key_into(s.as_bytes(), &mut key);
                            assert_eq!(got.value(i), key.as_slice(), "{collation:?} {case:?}");
                        }
                    }
                }
                let shared = own_eq_keys(collation, &input).is_some();
                let expected = match collation {
                    Collation::Binary => true,
                    Collation::Utf8mb4Bin => {
                        case.iter().all(|s| !s.is_some_and(|s| s.ends_with(' ')))
                    }
                    Collation::Utf8mb4GeneralCi => case.len() != 2 || case[1] == Some("NONE"),
                };
                assert_eq!(shared, expected, "{collation:?} {case:?}");
            }
        }
    }

    fn dec(v: i128, p: u8, s: i8) -> ColumnarValue {
        scalar(ScalarValue::Decimal128(Some(v), p, s))
    }

    #[test]
    fn division_matches_mysql() {
        let udf = Div::udf();
        // 7 / 2 = 3.5000
        let ty = Div::result_type(&DataType::Decimal128(20, 0), &DataType::Decimal128(20, 0))
            .expect("type");
        assert_eq!(ty, DataType::Decimal128(24, 4));
        let r = call(&udf, vec![dec(7, 20, 0), dec(2, 20, 0)], ty.clone());
        assert_eq!(
            r.as_primitive::<Decimal128Type>().value_as_string(0),
            "3.5000"
        );
        // 2 / 3 = 0.6667, -2 / 3 = -0.6667 (half away from zero)
        let r = call(&udf, vec![dec(2, 20, 0), dec(3, 20, 0)], ty.clone());
        assert_eq!(
            r.as_primitive::<Decimal128Type>().value_as_string(0),
            "0.6667"
        );
        let r = call(&udf, vec![dec(-2, 20, 0), dec(3, 20, 0)], ty.clone());
        assert_eq!(
            r.as_primitive::<Decimal128Type>().value_as_string(0),
            "-0.6667"
        );
        // 1 / 0 is NULL
        let r = call(&udf, vec![dec(1, 20, 0), dec(0, 20, 0)], ty);
        assert!(r.is_null(0));
        // 1.50 / 0.5 = 3.000000 (scale 2 + 4)
        let ty = Div::result_type(&DataType::Decimal128(10, 2), &DataType::Decimal128(10, 1))
            .expect("type");
        let r = call(&udf, vec![dec(150, 10, 2), dec(5, 10, 1)], ty);
        assert_eq!(
            r.as_primitive::<Decimal128Type>().value_as_string(0),
            "3.000000"
        );
    }

    #[test]
    fn weights_follow_the_collation() {
        let ci = Weight::udf(Collation::Utf8mb4GeneralCi);
        let w = |s: &str| {
            let r = call(
                &ci,
                vec![scalar(ScalarValue::Utf8(Some(s.into())))],
                DataType::Binary,
            );
            r.as_binary::<i32>().value(0).to_vec()
        };
        assert_eq!(w("Abc"), w("aBC  "));
        assert!(w("abc") < w("abd"));
        let bin = Weight::udf(Collation::Utf8mb4Bin);
        let b = |s: &str| {
            let r = call(
                &bin,
                vec![scalar(ScalarValue::Utf8(Some(s.into())))],
                DataType::Binary,
            );
            r.as_binary::<i32>().value(0).to_vec()
        };
        assert_ne!(b("Abc"), b("abc"));
        assert_eq!(b("abc"), b("abc "));
    }

    #[test]
    fn like_is_case_insensitive_under_general_ci() {
        let like = Like::udf();
        let r = call(
            &like,
            vec![
                scalar(ScalarValue::Utf8(Some("Hello World".into()))),
                scalar(ScalarValue::Utf8(Some("hello%".into()))),
            ],
            DataType::Boolean,
        );
        assert!(r.as_boolean().value(0));
        let r = call(
            &like,
            vec![
                scalar(ScalarValue::Utf8(None)),
                scalar(ScalarValue::Utf8(Some("%".into()))),
            ],
            DataType::Boolean,
        );
        assert!(r.is_null(0));
    }

    /// `reef_in_ci` answers as the collation compares, on an ASCII column (checked once
    /// for the whole column), on one with other characters (checked per row) and on one
    /// whose strings are their own equality keys (compared byte for byte).
    #[test]
    fn in_strings_answer_as_the_collation_compares() {
        let f = InStrings::udf(Collation::Utf8mb4GeneralCi);
        let keys = ["air reg", "Été"];
        let columns: [Vec<Option<&str>>; 3] = [
            vec![
                Some("AIR REG  "),
                Some("AIR"),
                None,
                Some("air reg"),
                Some("ete"),
            ],
            vec![
                Some("AIR REG"),
                Some("ete"),
                Some("été "),
                None,
                Some("AIRREG"),
            ],
            vec![
                Some("AIR REG"),
                Some("AIR"),
                None,
                Some("ETE"),
                Some("AIR REGS"),
                Some(""),
            ],
        ];
        let own = arrow_array::StringArray::from(columns[2].clone());
        assert!(own_eq_keys(Collation::Utf8mb4GeneralCi, &(Arc::new(own) as ArrayRef)).is_some());
        for texts in columns {
            let mut args = vec![ColumnarValue::Array(Arc::new(
                arrow_array::StringArray::from(texts.clone()),
            ))];
            args.extend(keys.map(|k| scalar(ScalarValue::Utf8(Some(k.into())))));
            let out = call(&f, args, DataType::Boolean);
            let want: Vec<Option<bool>> = texts
                .iter()
                .map(|t| {
                    t.map(|t| {
                        keys.iter().any(|k| {
                            Collation::Utf8mb4GeneralCi.compare(t.as_bytes(), k.as_bytes())
                                == std::cmp::Ordering::Equal
                        })
                    })
                })
                .collect();
            assert_eq!(
                out.as_boolean().iter().collect::<Vec<_>>(),
                want,
                "{texts:?}"
            );
        }
    }
}

/// `reef_cut(s, n)`: `s` cut to at most `n` bytes, at a character boundary: GROUP_CONCAT's
/// `group_concat_max_len`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Cut {
    signature: Signature,
}

impl Cut {
    /// The function.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Cut {
            signature: Signature::any(2, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for Cut {
    fn name(&self) -> &str {
        "reef_cut"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args.args, args.number_rows)?;
        let limits = datafusion::arrow::compute::cast(&a[1], &DataType::Int64)?;
        let limits = limits.as_primitive::<arrow_array::types::Int64Type>();
        let out: arrow_array::StringArray = strings(&a[0])?
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let s = s?;
                let limit = usize::try_from(limits.value(i)).unwrap_or(0);
                Some(cut(s, limit))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `s`'s longest prefix of at most `limit` bytes that ends on a character boundary.
pub fn cut(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod cut_tests {
    use super::cut;

    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(cut("abcdef", 4), "abcd");
        assert_eq!(cut("abc", 4), "abc");
        // "é" is two bytes: a cut inside it keeps the character out.
        assert_eq!(cut("aéb", 2), "a");
        assert_eq!(cut("aéb", 3), "aé");
    }
}
