// A shared library without et_plugin_init, for test/plugin.test.ts: the host must refuse it.
extern "C" int et_plugin_something_else() { return 1; }
