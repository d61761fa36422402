import Foundation
import Testing

/// The interactive prompt, driven through a real pseudo-terminal (util-linux `script`).
@Suite("flowctl run, interactive")
struct InteractiveRunTests {
  @Test func promptReachesCompletedUnderAPty() throws {
    let input =
      "disable2FA\nsubmitCode $received\neditPhone +15550109999\nsave\nenable2FA\nsubmitCode\n$received\n"
    let flowctl = Flowctl.executable.path
    let command =
      "\(flowctl) run flows/update-own-2fa-phone.yaml --world examples/team.yaml --actor ada"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
    process.arguments = ["-qfec", command, "/dev/null"]
    process.currentDirectoryURL = Flowctl.packageRoot
    var environment = ProcessInfo.processInfo.environment
    environment["NO_COLOR"] = "1"
    process.environment = environment
    let stdin = Pipe()
    let stdout = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = Pipe()
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(output)")
    #expect(
      output.contains("state securityCenter: The admin is in the Security Center with 2FA on."))
    #expect(output.contains("disable2FA"))
    #expect(output.contains("event> "))
    #expect(output.contains("code ($received for the code just delivered): "))
    #expect(output.contains("■ final state completed, outcome completed"))
  }

  @Test func endOfInputStopsInANonFinalState() throws {
    let result = try Flowctl.run([
      "run", "flows/update-own-2fa-phone.yaml", "--world", "examples/team.yaml", "--actor", "ada",
    ])
    #expect(result.status == 2)
    #expect(result.stdout.contains("□ stopped in securityCenter, which is not final"))
  }
}
