//! The tower idiom for a layer whose future calls its inner service later.

/// Takes the service that was driven to readiness out of `slot`, leaving a
/// clone in its place: the layer's future calls the ready one later (after
/// a body is read, a token verified, an approval or a record confirmed),
/// and the clone is driven to readiness for the next request.
///
/// ```
/// let mut slot = vec![1];
/// let ready = tollgate_kube::take_ready(&mut slot);
/// assert_eq!((ready, slot), (vec![1], vec![1]));
/// ```
pub fn take_ready<S: Clone>(slot: &mut S) -> S {
    let clone = slot.clone();
    std::mem::replace(slot, clone)
}
