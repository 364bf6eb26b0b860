import Testing
@testable import SlothRunner

@Suite struct DataFilterTests {
    func filter(_ lua: JSONValue) throws -> DataFilter { try DataFilter.parse(lua) }

    @Test func equalityOneOfAndNestedPaths() throws {
        let f = try filter(.object(["severity": .string("critical"), "deploy.env": .array([.string("production"), .string("canary")]), "retries": .int(3)]))
        #expect(f.matches(.object(["severity": .string("critical"), "retries": .double(3), "deploy": .object(["env": .string("canary")])])))
        #expect(!f.matches(.object(["severity": .string("critical"), "retries": .int(3), "deploy": .object(["env": .string("staging")])])))
        #expect(!f.matches(.object(["severity": .string("critical"), "retries": .int(3)])), "a missing path never matches")
        #expect(!f.matches(.object(["severity": .string("critical"), "retries": .int(3), "deploy": .string("production")])))
        let flag = try filter(.object(["dry_run": .bool(false)]))
        #expect(flag.matches(.object(["dry_run": .bool(false)])) && !flag.matches(.object(["dry_run": .int(0)])))
    }

    @Test func invalidFiltersAreRefusedWithReasons() {
        #expect(throws: SlothError.self) { try filter(.string("critical")) }
        #expect(throws: SlothError.self) { try filter(.object([:])) }
        #expect(throws: SlothError.self) { try filter(.object(["a..b": .int(1)])) }
        #expect(throws: SlothError.self) { try filter(.object(["a": .object(["b": .int(1)])])) }
        #expect(throws: SlothError.self) { try filter(.object(["a": .array([])])) }
        #expect(throws: SlothError.self) { try filter(.object(["a": .null])) }
    }

    @Test func storedFormRoundTrips() throws {
        let f = try filter(.object(["severity": .string("critical"), "deploy.env": .array([.string("production"), .string("canary")])]))
        #expect(try DataFilter.parse(f.json) == f)
    }
}
