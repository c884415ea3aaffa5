//! Impairments written on interfaces (`impair = { delay = "50ms", loss = "10%" }`): each
//! key read by `crate::impair`, the whole checked for what netem cannot do as written.

use super::super::diagnostic::Diagnostic;
use super::Draft;
use crate::model::IfaceId;

pub fn check(d: &mut Draft<'_>) {
    let mut declared: Vec<IfaceId> = d.declared.keys().copied().collect();
    declared.sort();
    for id in declared {
        let Some(doc) = &d.declared[&id].impair else { continue };
        let mut impairment = crate::impair::Impairment::default();
        let mut usable = true;
        for (key, value) in &doc.entries {
            if let Err(problem) = impairment.set(key.get_ref(), value.get_ref()) {
                let span = if crate::impair::KEYS.contains(&key.get_ref().as_str()) {
                    value.span()
                } else {
                    key.span()
                };
                d.error(Diagnostic::error(span, problem).label("not a usable impairment"));
                usable = false;
            }
        }
        if let Some(conflict) = impairment.conflict() {
            d.error(Diagnostic::error(doc.span.clone(), conflict).label("cannot be set as written"));
            usable = false;
        }
        if usable {
            d.lab.nodes[id.node.0].ifaces[id.index].impair = Some(impairment);
        }
    }
}
