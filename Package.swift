// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "cwm-profile",
  products: [
    .library(name: "CWMProfile", targets: ["CWMProfile"]),
    .executable(name: "cwm-profile", targets: ["cwm-profile"]),
  ],
  targets: [
    .systemLibrary(
      name: "CSecret",
      pkgConfig: "libsecret-1",
      providers: [.apt(["libsecret-1-dev"])]
    ),
    .systemLibrary(
      name: "CSodium",
      pkgConfig: "libsodium",
      providers: [.apt(["libsodium-dev"])]
    ),
    .systemLibrary(
      name: "CCurl",
      pkgConfig: "libcurl",
      providers: [.apt(["libcurl4-openssl-dev"])]
    ),
    // prctl, which the Glibc module does not export.
    .target(name: "CSystem"),
    .target(
      name: "CWMProfile",
      dependencies: ["CSecret", "CSodium", "CCurl", "CSystem"]
    ),
    .executableTarget(
      name: "cwm-profile",
      dependencies: ["CWMProfile"]
    ),
    // Fixtures shared by the test targets: the stand-in Manage server,
    // a private Secret Service and temporary homes. Not a product.
    .target(
      name: "TestSupport",
      path: "Tests/TestSupport"
    ),
    .testTarget(
      name: "CWMProfileTests",
      dependencies: ["CWMProfile", "TestSupport"],
      // Read through #filePath by the tests, not bundled.
      exclude: ["Golden"]
    ),
    .testTarget(
      name: "EndToEndTests",
      dependencies: ["cwm-profile", "CWMProfile", "TestSupport"]
    ),
  ]
)
