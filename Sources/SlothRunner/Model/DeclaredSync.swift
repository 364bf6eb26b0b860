/// A thing a config file may declare — a schedule, a check, a watch, a webhook: named, marked
/// with the file that declared it, and with fields the store keeps that a declaration does not
/// set.
package protocol Declarable: Equatable, Sendable {
    var name: String { get }
    /// The config file that declared it; nil for one added by a command.
    var declaredIn: String? { get }
    /// Takes from the stored copy what the store keeps across declarations (when it was
    /// created; for a schedule also its id, progress and whether it is enabled), so a
    /// declaration that differs only there compares equal and is left alone.
    mutating func keepStored(from stored: Self)
}

/// What making the stored things of one kind match a config file's declarations comes to —
/// the one rule every kind and every driver follows: things declared before (marked with a
/// file) and declared no longer are removed; declared things new or different are written
/// (one added by a command under a declared name is taken over); the rest stay as they are,
/// ones added by commands included. A driver carries it out in one transaction.
package struct DeclaredSync<Item: Declarable>: Sendable {
    /// Names to delete, sorted.
    package let removed: [String]
    /// Things to store (insert or replace), in declaration order, with what the store keeps.
    package let writes: [Item]
    /// Names of the written things that are new, and of those that replace a stored one; sorted.
    package let added: [String]
    package let changed: [String]

    package init(stored: [Item], declared: [Item]) {
        let before = Dictionary(stored.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let names = Set(declared.map(\.name))
        removed = before.values.filter { $0.declaredIn != nil && !names.contains($0.name) }.map(\.name).sorted()
        var writes: [Item] = [], added: [String] = [], changed: [String] = []
        for var item in declared {
            if let old = before[item.name] {
                item.keepStored(from: old)
                if item == old { continue }
                changed.append(item.name)
            } else {
                added.append(item.name)
            }
            writes.append(item)
        }
        self.writes = writes
        self.added = added.sorted()
        self.changed = changed.sorted()
    }

    /// Whether anything is to be written or removed (a running source's version then moves).
    package var changesAnything: Bool { !(removed.isEmpty && writes.isEmpty) }

    /// As the store's `…Sync` methods return it.
    package var summary: (added: [String], changed: [String], removed: [String]) { (added, changed, removed) }
}

extension Schedule: Declarable {
    package mutating func keepStored(from stored: Schedule) {
        // Its identity and progress stay; only the definition may change.
        id = stored.id
        createdAt = stored.createdAt
        firedThrough = stored.firedThrough
        enabled = stored.enabled
    }
}

extension HealthCheck: Declarable {
    package mutating func keepStored(from stored: HealthCheck) { createdAt = stored.createdAt }
}

extension FileWatch: Declarable {
    package mutating func keepStored(from stored: FileWatch) { createdAt = stored.createdAt }
}

extension Webhook: Declarable {
    package mutating func keepStored(from stored: Webhook) { createdAt = stored.createdAt }
}
