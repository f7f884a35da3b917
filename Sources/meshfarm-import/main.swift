import Foundation
import MeshFarmSandbox

// `meshfarm-import`: imports one model file for a contained import (see
// `ContainedImporter`); started by workers and the `meshfarm` client under limits.
exit(ImportChild.main(CommandLine.arguments))
