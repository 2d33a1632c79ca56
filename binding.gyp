{
  "targets": [
    {
      "target_name": "ndshm",
      "sources": [
        "native/addon.cc",
        "native/copy.cc",
        "native/shm.cc",
        "native/sigbus.cc",
        "native/uncounted_buffer.cc",
        "native/shared_buffer.cc",
        "native/sync.cc"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++20", "-Wall", "-Wextra", "-O2"],
      "libraries": ["-lrt", "-lpthread"],
      "ldflags": ["-Wl,-z,now"]
    }
  ]
}
