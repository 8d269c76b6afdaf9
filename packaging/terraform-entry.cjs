// Entry of the single-file Terraform provider (packaging/build-packages.ts): the modules that
// provider/vm-resource.ts loads at run time (requireHere) are bundled and registered first,
// since nothing else will be beside the file in a provider mirror.
globalThis.__fcmBundledModules = { 'ajv/dist/2020.js': require('ajv/dist/2020.js') };
require('../provider/terraform/main.ts');
