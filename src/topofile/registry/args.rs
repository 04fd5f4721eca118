//! [`Arg`] and [`ClassArgs`]: what a Flux file says about one instance of
//! a class, `ref`s resolved, for the factories that read it.

use gale_codec::Value;

/// One argument of a constructor, a property or a config method: a
/// value, an object of `components:` (a `ref`), or a list of objects (a
/// `reflist`).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A plain YAML value.
    Value(Value),
    /// `ref: ID`: the component's definition, its own `ref`s resolved.
    Object(Box<ClassArgs>),
    /// `reflist: [ID, ...]`.
    List(Vec<Arg>),
}

impl Arg {
    /// The plain value, if it is one.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            Arg::Value(v) => Some(v),
            _ => None,
        }
    }

    /// A list of strings: a YAML list of strings, or a `ref` to an
    /// `org.apache.storm.tuple.Fields` component.
    pub fn strings(&self) -> Option<Vec<String>> {
        match self {
            Arg::Value(Value::List(items)) => items
                .iter()
                .map(|v| match v {
                    Value::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            Arg::Object(obj) if obj.class_name == FIELDS_CLASS => {
                let args = &obj.constructor_args;
                match args.as_slice() {
                    [one @ Arg::Value(Value::List(_))] => one.strings(),
                    _ => args
                        .iter()
                        .map(|a| match a {
                            Arg::Value(Value::Str(s)) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                }
            }
            _ => None,
        }
    }
}

/// Storm's `Fields` class.
pub(crate) const FIELDS_CLASS: &str = "org.apache.storm.tuple.Fields";

/// What a Flux file says about one instance of a class: its `className`,
/// `constructorArgs`, `properties` and `configMethods`, with `ref`s
/// resolved. A factory registered with
/// [`Registry`](super::Registry) reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassArgs {
    /// The `className`.
    pub class_name: String,
    /// `constructorArgs`, in order.
    pub constructor_args: Vec<Arg>,
    /// `properties`: (name, value) in order.
    pub properties: Vec<(String, Arg)>,
    /// `configMethods`: (method name, its args) in order.
    pub config_methods: Vec<(String, Vec<Arg>)>,
}

impl ClassArgs {
    /// The property called `name`, if given.
    pub fn property(&self, name: &str) -> Option<&Arg> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fields_reference_gives_its_names() {
        let fields = ClassArgs {
            class_name: FIELDS_CLASS.to_owned(),
            constructor_args: vec![
                Arg::Value(Value::from("word")),
                Arg::Value(Value::from("n")),
            ],
            ..ClassArgs::default()
        };
        let arg = Arg::Object(Box::new(fields));
        assert_eq!(arg.strings(), Some(vec!["word".to_owned(), "n".to_owned()]));
        assert_eq!(Arg::Value(Value::I64(1)).strings(), None);
    }
}
