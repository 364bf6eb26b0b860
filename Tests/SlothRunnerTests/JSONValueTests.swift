import Foundation
import Testing
@testable import SlothRunner

/// Serialization is written byte by byte (JSONValue.swift); these pin its output.
@Suite struct JSONValueTests {
    @Test func compactFormSortsKeysAndKeepsNumbersApart() {
        let value = JSONValue.object([
            "b": .array([.int(1), .double(1), .double(2.5), .bool(true), .null]),
            "a": .object(["z": .int(Int64.min), "y": .int(Int64.max), "x": .int(0), "w": .int(-7)]),
        ])
        #expect(value.serialized() == #"{"a":{"w":-7,"x":0,"y":9223372036854775807,"z":-9223372036854775808},"b":[1,1.0,2.5,true,null]}"#)
    }

    @Test func stringsAreEscapedAndUTF8PassesThrough() throws {
        let text = "quote \" backslash \\ newline \n tab \t return \r bell \u{07} nul \u{00} é 日本 🦥"
        let out = JSONValue.string(text).serialized()
        #expect(out == #""quote \" backslash \\ newline \n tab \t return \r bell \u0007 nul \u0000 é 日本 🦥""#)
        #expect(try JSONValue.parse(out) == .string(text))
    }

    @Test func prettyFormIndentsNestedValues() {
        let value = JSONValue.object(["list": .array([.int(1), .object(["k": .string("v")])]), "empty": .object([:]), "none": .array([])])
        #expect(value.serialized(pretty: true) == """
            {
              "empty": {},
              "list": [
                1,
                {
                  "k": "v"
                }
              ],
              "none": []
            }
            """)
    }

    @Test func roundTripOfParsedDocuments() throws {
        let text = #"{"data":{"n":1152921504606846976,"f":-0.25,"s":"a\/b","u":"\u00e9\ud83e\udda5"},"list":[[],{}]}"#
        let value = try JSONValue.parse(text)
        #expect(try JSONValue.parse(value.serialized()) == value)
        #expect(value.serialized() == #"{"data":{"f":-0.25,"n":1152921504606846976,"s":"a/b","u":"é🦥"},"list":[[],{}]}"#)
    }
}
