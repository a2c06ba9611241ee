//! `reef_any_value(x)`: the first value a group sees, NULL included. It reports a
//! case-insensitive group's original string (a GROUP BY on `utf8mb4_general_ci` text groups
//! on the equality key and shows one of the group's values, as MySQL does).
//!
//! DataFusion's `first_value` computes the same when no ORDER BY is given, but for strings
//! it runs through its row-at-a-time adapter, which sorts every batch by group and calls a
//! per-group accumulator on each slice. Here a group's value is copied once, when the group
//! first appears, and every later row costs one check.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray};
use arrow_schema::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The aggregate function (see the module documentation).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AnyValue {
    signature: Signature,
}

impl AnyValue {
    /// The function.
    pub fn udaf() -> AggregateUDF {
        AggregateUDF::new_from_impl(AnyValue {
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

impl AggregateUDFImpl for AnyValue {
    fn name(&self) -> &str {
        "reef_any_value"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Null))
    }

    /// Any row's value will do: the query asked for none in particular.
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    /// The value, and whether the group has one yet (a NULL value may be its first).
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(
                args.return_field
                    .as_ref()
                    .clone()
                    .with_name(format_state_name(args.name, "value"))
                    .with_nullable(true),
            ),
            Arc::new(Field::new(
                format_state_name(args.name, "is_set"),
                DataType::Boolean,
                false,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(First {
            value: None,
            data_type: args.return_field.data_type().clone(),
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(FirstPerGroup {
            values: Vec::new(),
            data_type: args.return_field.data_type().clone(),
        }))
    }
}

/// The first value of one group.
#[derive(Debug)]
struct First {
    value: Option<ScalarValue>,
    data_type: DataType,
}

impl First {
    /// Takes the first row of `values` that `keep` lets through (all without it).
    fn take_first(&mut self, values: &[ArrayRef], keep: Option<&BooleanArray>) -> Result<()> {
        if let (None, Some(a)) = (&self.value, values.first()) {
            if let Some(row) = (0..a.len()).find(|&r| kept(keep, r)) {
                self.value = Some(ScalarValue::try_from_array(a, row)?);
            }
        }
        Ok(())
    }
}

/// Whether row `r` passes `keep` (a filter, or the state's is-set flags).
fn kept(keep: Option<&BooleanArray>, r: usize) -> bool {
    keep.is_none_or(|k| k.is_valid(r) && k.value(r))
}

impl Accumulator for First {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.take_first(values, None)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match &self.value {
            Some(v) => Ok(v.clone()),
            None => ScalarValue::try_from(&self.data_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.value.as_ref().map_or(0, ScalarValue::size)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            self.evaluate()?,
            ScalarValue::Boolean(Some(self.value.is_some())),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let is_set = states.get(1).and_then(|a| a.as_boolean_opt());
        self.take_first(states.get(..1).unwrap_or_default(), is_set)
    }
}

/// The first value of each group, by group index; `None` until the group's first row.
struct FirstPerGroup {
    values: Vec<Option<ScalarValue>>,
    data_type: DataType,
}

impl FirstPerGroup {
    /// The values of the groups `emit_to` names, and whether each group had one.
    fn take(&mut self, emit_to: EmitTo) -> Result<(ArrayRef, BooleanArray)> {
        let taken = emit_to.take_needed(&mut self.values);
        let is_set: BooleanArray = taken.iter().map(|v| Some(v.is_some())).collect();
        if taken.is_empty() {
            return Ok((arrow_array::new_empty_array(&self.data_type), is_set));
        }
        let null = ScalarValue::try_from(&self.data_type)?;
        let values = ScalarValue::iter_to_array(
            taken.into_iter().map(|v| v.unwrap_or_else(|| null.clone())),
        )?;
        Ok((values, is_set))
    }

    /// Gives each group of `group_indices` that has no value yet its first row's value
    /// among the rows `keep` lets through.
    fn first_values(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        keep: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.values.resize(total_num_groups, None);
        let Some(array) = values.first() else {
            return Ok(());
        };
        for (row, &g) in group_indices.iter().enumerate() {
            if self.values[g].is_none() && kept(keep, row) {
                self.values[g] = Some(ScalarValue::try_from_array(array, row)?);
            }
        }
        Ok(())
    }
}

impl GroupsAccumulator for FirstPerGroup {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.first_values(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.take(emit_to)?.0)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (values, is_set) = self.take(emit_to)?;
        Ok(vec![values, Arc::new(is_set)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let is_set = values.get(1).and_then(|a| a.as_boolean_opt());
        let values = values.get(..1).unwrap_or_default();
        self.first_values(values, group_indices, is_set, total_num_groups)
    }

    /// Each row is its own state: set unless the filter drops it.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values.first().map_or(0, |a| a.len());
        let is_set: BooleanArray = (0..rows).map(|r| Some(kept(opt_filter, r))).collect();
        Ok(values
            .iter()
            .take(1)
            .cloned()
            .chain(std::iter::once(Arc::new(is_set) as ArrayRef))
            .collect())
    }

    fn size(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<Option<ScalarValue>>()
            + self
                .values
                .iter()
                .flatten()
                .map(ScalarValue::size)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    #[test]
    fn each_group_keeps_its_first_value_across_batches_and_merges() {
        let mut acc = FirstPerGroup {
            values: Vec::new(),
            data_type: DataType::Utf8,
        };
        acc.update_batch(
            &[strings(&[Some("abc"), Some("ABC"), None])],
            &[0, 0, 1],
            None,
            2,
        )
        .unwrap();
        // A filtered-out row does not count as the group's first.
        let filter = BooleanArray::from(vec![false, true, true]);
        acc.update_batch(
            &[strings(&[Some("x"), Some("Abc"), Some("y")])],
            &[2, 0, 2],
            Some(&filter),
            3,
        )
        .unwrap();
        // Merged states: group 2 already has "y"; group 3 takes its first state that is set.
        let is_set: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true]));
        acc.merge_batch(
            &[strings(&[Some("z"), Some("v"), Some("w")]), is_set],
            &[2, 3, 3],
            4,
        )
        .unwrap();
        let first_two = acc.evaluate(EmitTo::First(2)).unwrap();
        let first_two = first_two.as_string::<i32>();
        assert_eq!(first_two.value(0), "abc");
        assert!(first_two.is_null(1), "group 1's first value was NULL");
        let rest = acc.evaluate(EmitTo::All).unwrap();
        let rest = rest.as_string::<i32>();
        assert_eq!((rest.value(0), rest.value(1)), ("y", "w"));
    }

    #[test]
    fn no_groups_give_an_empty_array_of_the_type() {
        let mut acc = FirstPerGroup {
            values: Vec::new(),
            data_type: DataType::Utf8,
        };
        let out = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!((out.len(), out.data_type()), (0, &DataType::Utf8));
    }
}
